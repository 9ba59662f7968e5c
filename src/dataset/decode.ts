import sharp from 'sharp';
import { FkdError, isFkdError } from '../errors.js';
import { imageError } from './image-error.js';
import { decodeJpegWasm, IN_THREAD_RULE, wasmRefusal } from './decode-wasm.js';
import { readImageBytes } from './file.js';
import type { DecodedImage, RgbImage } from './image.js';
import { readJpegHeader } from './jpeg-header.js';

export interface DecodeOptions {
  /** Refuse images with more pixels than this (decompression bombs). */
  maxPixels?: number;
  /** Render SVGs instead of refusing them (librsvg follows references to other files). */
  allowSvg?: boolean;
  /**
   * Called with the image's pixel count once its header is read, before the pixels are
   * decoded; decoding waits for the returned promise. Callers bound the memory of decodes
   * in flight with it (about `DECODE_BYTES_PER_PIXEL` each).
   */
  admit?: (pixels: number) => Promise<void>;
}

/**
 * Peak bytes a decode holds per pixel, measured here: a 16000² JPEG (1.5 MB) peaks at 762 MiB
 * above the process baseline, 3.12 B per pixel (the 3-byte RGB result plus sharp's buffers).
 */
export const DECODE_BYTES_PER_PIXEL = 3.2;

/** Large enough for any real photo (about 16k × 16k), small enough to stop bombs. */
export const DEFAULT_MAX_PIXELS = 268_402_689;

/** Boxes are stored as uint16, so no side may exceed this. */
export const MAX_SIDE = 65_535;

// Decoding runs on libuv's pool; one libvips thread per image keeps that pool the only knob.
sharp.concurrency(1);
sharp.cache(false);

/**
 * Decodes an image file once into 8-bit sRGB, 3 channels, HWC. The pixel rules are part
 * of the label format (docs/FORMAT.md, "Pixels"):
 * - EXIF orientation is applied, so boxes refer to the image as it is meant to be seen;
 * - CMYK and other colour spaces are converted to sRGB, greyscale is expanded to 3 channels;
 * - alpha is dropped without compositing (as PIL's `convert('RGB')` does);
 * - 16-bit samples are reduced to 8 bits.
 *
 * @example
 * const image = await decodeImage('train/n01440764/x.JPEG');
 */
export async function decodeImage(input: string | Uint8Array, path = typeof input === 'string' ? input : '<buffer>', options: DecodeOptions = {}): Promise<RgbImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  try {
    const pipeline = sharp(input, { failOn: 'truncated', limitInputPixels: maxPixels });
    // The header alone: the format as detected from the bytes, whatever the file is named. Bytes
    // that open as a JPEG or PNG cannot be an SVG, so without an `admit` callback the header is
    // not read twice (a separate libvips job: ~0.2–0.4 ms of a ~3 ms decode of a 500×375 photo).
    if (options.admit || !(input instanceof Uint8Array && isJpegOrPng(input))) {
      const header = await pipeline.metadata();
      if (header.format === 'svg' && !options.allowSvg) {
        throw imageError('E_BAD_IMAGE', path, SVG_REFUSED);
      }
      if (options.admit) await options.admit((header.width ?? 0) * (header.height ?? 0));
    }
    const { data, info } = await pipeline
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw imageError('E_BAD_IMAGE', path, `decoded to ${info.channels} channels instead of 3.`);
    }
    if (info.width > MAX_SIDE || info.height > MAX_SIDE) {
      throw imageError('E_IMAGE_TOO_LARGE', path, `${info.width}×${info.height} exceeds the ${MAX_SIDE}-pixel side limit.`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (error) {
    if (error instanceof FkdError) throw error;
    throw classifyDecodeError(error, path, maxPixels);
  }
}

/**
 * `decodeImage` under the rule `IN_THREAD_RULE` (decode-wasm.ts): the JPEGs `wasmRefusal`
 * accepts are decoded synchronously on this thread, to RGBX, and the rest by sharp. The label
 * pass of a store with `sampler.decoder: 'fkd-jpeg-1'` decodes this way, and so does a loader
 * replaying it. The pixels are sharp's on every JPEG an encoder writes.
 *
 * @example
 * const image = await decodeForRender(bytes, 'a/x.jpg', { maxPixels });
 */
export async function decodeForRender(bytes: Uint8Array, path: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  const header = readJpegHeader(bytes);
  if (header && wasmRefusal(header, options.maxPixels ?? DEFAULT_MAX_PIXELS) === undefined) {
    await options.admit?.(header.width * header.height);
    const image = await decodeJpegWasm(bytes);
    if (image && image.width === header.width && image.height === header.height) return image;
    // Admitted already, at the size sharp will find: it decodes without asking again.
    const { admit: _admitted, ...rest } = options;
    return decodeImage(bytes, path, rest);
  }
  return decodeImage(bytes, path, options);
}

/**
 * Decodes a file as a store's labeler did: under `IN_THREAD_RULE` when the store names it
 * (`sampler.decoder`), with sharp alone otherwise (stores written before the rule existed).
 *
 * @example
 * const image = await decodeAsLabelled('train/a/x.jpg', 'a/x.jpg', manifest.sampler.decoder, { maxPixels });
 */
export async function decodeAsLabelled(input: string | Uint8Array, path: string, rule: string | undefined, options: DecodeOptions = {}): Promise<DecodedImage> {
  if (rule !== IN_THREAD_RULE) return decodeImage(input, path, options);
  return decodeForRender(typeof input === 'string' ? await readImageBytes(input, path) : input, path, options);
}

/** JPEG (FF D8 FF) and PNG (89 'PNG' CR LF 1A LF) signatures, which libvips detects the same way. */
function isJpegOrPng(bytes: Uint8Array): boolean {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return true;
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return bytes.length >= png.length && png.every((byte, index) => bytes[index] === byte);
}

const SVG_REFUSED = 'an SVG image (detected from its bytes); refused because librsvg can read other files it references. Pass --allow-svg (allowSvg) to render SVGs.';

/**
 * What went wrong with an image, without its path: for lists that show the path beside it
 * (a store's skipped images). Image errors keep it in `details.reason`.
 *
 * @example
 * reasonOf(error); // 'truncated image data (VipsJpeg: premature end of input file).'
 */
export function reasonOf(error: Error): string {
  return (isFkdError(error) ? error.details.reason : undefined) ?? error.message;
}

function classifyDecodeError(error: unknown, path: string, maxPixels: number): FkdError {
  const message = error instanceof Error ? error.message : String(error);
  if (/Input file is missing|ENOENT|EACCES|permission denied|no such file/i.test(message)) {
    return imageError('E_IO', path, `cannot read the file (${message.split('\n')[0]}).`, error);
  }
  if (/pixel limit/i.test(message)) {
    return imageError('E_IMAGE_TOO_LARGE', path, `more than ${maxPixels} pixels; refused as a possible decompression bomb. Raise --max-pixels if the image is genuine.`, error);
  }
  if (/unsupported image format|Input buffer contains unsupported|empty/i.test(message)) {
    return imageError('E_BAD_IMAGE', path, `not a readable image (${message.split('\n')[0]}).`, error);
  }
  if (/premature|truncat|end of (file|data)/i.test(message)) {
    return imageError('E_BAD_IMAGE', path, `truncated image data (${message.split('\n')[0]}).`, error);
  }
  return imageError('E_BAD_IMAGE', path, `cannot decode (${message.split('\n')[0]}).`, error);
}
