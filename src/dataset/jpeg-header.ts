/**
 * The markers of a JPEG file up to its first scan, read without decoding anything: enough to
 * decide whether the in-thread decoder (decode-wasm.ts) gives exactly sharp's pixels for it.
 * Every length is checked against the bytes; anything malformed reads as `undefined`, and the
 * caller then leaves the file to sharp, which names what is wrong with it.
 */
export interface JpegHeader {
  /** The start-of-frame marker's code: 0xc0 baseline, 0xc1 extended, 0xc2 progressive, … */
  frame: number;
  precision: number;
  width: number;
  height: number;
  /** Sampling factors per component, in frame order. */
  components: { id: number; h: number; v: number }[];
  /** EXIF orientation (1–8); undefined when there is no EXIF segment or it has no orientation tag. */
  orientation: number | undefined;
  /** Segments whose content changes how libvips colours or assembles the image (APP2: ICC profile, MPF gain maps; APP14: Adobe transform). */
  colourSegments: number;
  /** EXIF segments that could not be read; libvips might still find an orientation in them. */
  unreadableExif: number;
}

const SOI = 0xd8;
const SOS = 0xda;
const EXIF = [0x45, 0x78, 0x69, 0x66, 0, 0];

/**
 * Reads the header of `bytes`, or undefined when they are not a well-formed JPEG up to the
 * first scan (or have no frame before it).
 *
 * @example
 * readJpegHeader(bytes)?.components; // [{ id: 1, h: 2, v: 2 }, { id: 2, h: 1, v: 1 }, { id: 3, h: 1, v: 1 }]
 */
export function readJpegHeader(bytes: Uint8Array): JpegHeader | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) return undefined;
  let at = 2;
  let frame: Omit<JpegHeader, 'orientation' | 'colourSegments' | 'unreadableExif'> | undefined;
  let orientation: number | undefined;
  let exifSegments = 0;
  let colourSegments = 0;
  let unreadableExif = 0;
  for (;;) {
    if (at + 1 >= bytes.length || bytes[at] !== 0xff) return undefined;
    while (at + 1 < bytes.length && bytes[at + 1] === 0xff) at++; // fill bytes
    const marker = bytes[at + 1]!;
    at += 2;
    // Only segments with a length may come before the first scan.
    if (marker === SOI || marker === 0xd9 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0x00) return undefined;
    if (at + 2 > bytes.length) return undefined;
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    if (length < 2 || at + length > bytes.length) return undefined;
    const body = bytes.subarray(at + 2, at + length);
    at += length;
    if (marker === SOS) {
      if (!frame) return undefined;
      if (exifSegments > 1) unreadableExif++; // which one libvips reads is not ours to guess
      return { ...frame, orientation, colourSegments, unreadableExif };
    }
    if (isFrameMarker(marker)) {
      if (frame) return undefined;
      frame = readFrame(marker, body);
      if (!frame) return undefined;
    } else if (marker === 0xe1 && startsWith(body, EXIF)) {
      exifSegments++;
      const read = readOrientation(body.subarray(EXIF.length));
      if (read === null) unreadableExif++;
      else if (read !== undefined) orientation = read;
    } else if (marker === 0xe2 || marker === 0xee) {
      colourSegments++;
    }
  }
}

/** SOF0–SOF15 except DHT (c4), JPG (c8) and DAC (cc). */
function isFrameMarker(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function readFrame(marker: number, body: Uint8Array): Omit<JpegHeader, 'orientation' | 'colourSegments' | 'unreadableExif'> | undefined {
  if (body.length < 6) return undefined;
  const count = body[5]!;
  if (count === 0 || body.length !== 6 + 3 * count) return undefined;
  const components = [];
  for (let c = 0; c < count; c++) {
    const sampling = body[6 + 3 * c + 1]!;
    components.push({ id: body[6 + 3 * c]!, h: sampling >> 4, v: sampling & 15 });
  }
  return { frame: marker, precision: body[0]!, height: (body[1]! << 8) | body[2]!, width: (body[3]! << 8) | body[4]!, components };
}

/** The orientation tag of IFD0 in a TIFF block; undefined when absent, null when the block is malformed. */
function readOrientation(tiff: Uint8Array): number | undefined | null {
  if (tiff.length < 8) return null;
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return null;
  const u16 = (at: number) => (little ? tiff[at]! | (tiff[at + 1]! << 8) : (tiff[at]! << 8) | tiff[at + 1]!);
  const u32 = (at: number) => (little ? u16(at) + u16(at + 2) * 65536 : u16(at) * 65536 + u16(at + 2));
  if (u16(2) !== 42) return null;
  const ifd = u32(4);
  if (ifd < 8 || ifd + 2 > tiff.length) return null;
  const entries = u16(ifd);
  if (ifd + 2 + 12 * entries > tiff.length) return null;
  for (let e = 0; e < entries; e++) {
    const at = ifd + 2 + 12 * e;
    if (u16(at) !== 0x0112) continue;
    // SHORT, one value, stored in the entry itself.
    if (u16(at + 2) !== 3 || u32(at + 4) !== 1) return null;
    return u16(at + 8);
  }
  return undefined;
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, index) => bytes[index] === byte);
}
