import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';
import { FkdError } from '../errors.js';
import { MAX_TOPK_SUM, ZERO_CODE, decodeProbabilities } from '../labels/codec.js';
import { sha256Hex } from './hash.js';

/**
 * Shard files (`shards/NNNNNN.fkd`): the magic, then one msgpack image block, then one
 * msgpack epoch block per label epoch. docs/FORMAT.md is the normative description; the
 * comments here say why the code is the way it is.
 */

export const SHARD_MAGIC = 'FKDSHRD1';
const MAGIC = new TextEncoder().encode(SHARD_MAGIC);

/**
 * Brotli settings are part of what makes encoding byte-identical for identical input, so
 * they are constants, not options. Quality 11 cost ~0.2 s per 4000-record block here and
 * gave the smallest output; label generation is teacher-bound, so the time is free. A
 * 4 MiB window (lgwin 22) already covers any realistic block.
 */
export const BROTLI_QUALITY = 11;
export const BROTLI_WINDOW_BITS = 22;

/**
 * Largest decompressed column payload of one epoch block. msgpackr and brotli have no cap
 * of their own, so a hostile header claiming billions of records could make us allocate
 * without bound. 256 MiB is ~9 M top-5 records, far beyond a sensible shard; the encoder
 * refuses to write more so every shard it writes can be read back.
 */
export const MAX_EPOCH_RAW_BYTES = 256 * 1024 * 1024;

/**
 * Largest uncompressed path list of one image block (the UTF-8 paths joined with NUL).
 * The same cap and for the same reason as MAX_EPOCH_RAW_BYTES: `pathsBytes` comes from
 * the file and bounds brotli's output. A 1000-image shard needs ~30 KB.
 */
export const MAX_PATHS_RAW_BYTES = MAX_EPOCH_RAW_BYTES;

/** Where a block sits in a shard file and what it hashes to. */
export interface BlockRef {
  offset: number;
  length: number;
  sha256: string;
}

export interface EpochBlockRef extends BlockRef {
  epoch: number;
  records: number;
}

/** Everything a reader needs to fetch and verify any block of a shard with one ranged read. */
export interface ShardLayout {
  bytes: number;
  sha256: string;
  images: BlockRef;
  epochs: EpochBlockRef[];
}

/** The images a shard covers, with their decoded (EXIF-oriented) sizes. */
export interface ImageBlock {
  imageStart: number;
  imageCount: number;
  widths: Uint32Array;
  heights: Uint32Array;
  /** Shard-local indices, ascending, of images that have no records. */
  skipped: number[];
  /**
   * One per image, skipped ones included: the path relative to the dataset root,
   * `/`-separated, as the dataset listing gives it (e.g. `n01440764/n01440764_10026.JPEG`).
   * Never empty, absolute, or holding NUL, a backslash, or an empty, `.` or `..` segment.
   */
  paths: string[];
}

/**
 * One label epoch of a shard: `crops` records per non-skipped image, in image order, crop
 * 0..crops-1. Boxes are integer pixels of the decoded, EXIF-oriented image.
 */
export interface EpochRecords {
  epoch: number;
  crops: number;
  topK: number;
  count: number;
  top: Uint16Array;
  left: Uint16Array;
  height: Uint16Array;
  width: Uint16Array;
  /** 1 when the crop is mirrored left-right after cropping, else 0. */
  flip: Uint8Array;
  /** count × topK class indices, most probable first. */
  classes: Uint32Array;
  /** count × topK probability codes (labels/codec.ts), non-decreasing within a record. */
  codes: Uint16Array;
}

export interface EncodedShard {
  bytes: Uint8Array;
  layout: ShardLayout;
}

export interface DecodedShard {
  images: ImageBlock;
  epochs: EpochRecords[];
  /** The layout recomputed from the bytes, to compare with the manifest's. */
  layout: ShardLayout;
}

/** What the caller knows about a block from the manifest. */
export interface BlockExpectation {
  /** Expected SHA-256 of the block bytes, from the manifest's layout. */
  sha256: string;
  /** The shard's store key (or location/key), for messages. */
  key: string;
}

/** What the caller knows about an epoch block from the manifest. */
export interface EpochBlockExpectation extends BlockExpectation {
  epoch?: number;
  records?: number;
  /** When given, classes must be below it and use the width the encoder picks for it. */
  numClasses?: number;
}

export interface ShardCheckOptions {
  /** The shard's store key, for messages. */
  key?: string;
  numClasses?: number;
}

// Plain msgpack maps, ints and bins only: no msgpackr records or typed-array extensions,
// so a Python or Rust reader needs nothing but a standard msgpack library.
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const IMAGE_BLOCK_KEYS = ['kind', 'imageStart', 'imageCount', 'sizeBytes', 'widths', 'heights', 'skipped', 'pathsBytes', 'paths'];

// Paths are joined with NUL, which no file path can contain. The decoder is strict
// (invalid UTF-8 is corruption) and keeps a leading U+FEFF, so decoding inverts encoding.
const PATH_SEPARATOR = '\0';
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const EPOCH_BLOCK_KEYS = ['kind', 'epoch', 'crops', 'topK', 'records', 'classBytes', 'encoding', 'payload'];

/**
 * Encode a shard: one image block, then one epoch block per element of `epochs`, which
 * must be epochs 0..E-1 in order. Identical input gives identical bytes. Input that the
 * decoder would reject is refused with `E_USAGE`, so a written shard always reads back.
 *
 * @example
 * const { bytes, layout } = encodeShard(
 *   { imageStart: 0, imageCount: 1, widths: Uint32Array.of(500), heights: Uint32Array.of(375), skipped: [],
 *     paths: ['n01440764/n01440764_10026.JPEG'] },
 *   [{ epoch: 0, crops: 1, topK: 1, count: 1, top: Uint16Array.of(10), left: Uint16Array.of(20),
 *      height: Uint16Array.of(200), width: Uint16Array.of(220), flip: Uint8Array.of(1),
 *      classes: Uint32Array.of(7), codes: Uint16Array.of(5) }],
 *   1000,
 * );
 * await driver.put('shards/000000.fkd', bytes); // and record `layout` in the manifest
 */
export function encodeShard(images: ImageBlock, epochs: EpochRecords[], numClasses: number): EncodedShard {
  checkInteger(numClasses, 'numClasses', 1, 0xffffffff);
  checkImageBlock(images, usage);
  const present = presentImages(images);
  const blocks: Uint8Array[] = [encodeImageBlock(images)];
  epochs.forEach((records, index) => {
    checkEpochInput(records, index, epochs[0] as EpochRecords, images, present, numClasses);
    blocks.push(encodeEpochBlock(records, numClasses));
  });
  const total = MAGIC.length + blocks.reduce((sum, block) => sum + block.length, 0);
  const bytes = new Uint8Array(total);
  bytes.set(MAGIC, 0);
  let offset = MAGIC.length;
  const refs: BlockRef[] = blocks.map((block) => {
    bytes.set(block, offset);
    const ref = { offset, length: block.length, sha256: sha256Hex(block) };
    offset += block.length;
    return ref;
  });
  const [imageRef, ...epochRefs] = refs as [BlockRef, ...BlockRef[]];
  return {
    bytes,
    layout: {
      bytes: total,
      sha256: sha256Hex(bytes),
      images: imageRef,
      epochs: epochRefs.map((ref, e) => ({ ...ref, epoch: e, records: (epochs[e] as EpochRecords).count })),
    },
  };
}

/**
 * Decode the image block, from any of:
 * - exactly the block's bytes (one ranged read of `layout.images`), with an optional
 *   `{ sha256, key }` to verify them against;
 * - the shard file, or a prefix of it holding the block, with `layout.images` as `ref`
 *   (offset, length and hash; `key` optional, for messages);
 * - the whole shard file alone, trusting nothing but the framing.
 *
 * @example
 * const ref = entry.layout.images;
 * const block = await driver.getRange(entry.key, ref.offset, ref.length);
 * const images = decodeImageBlock(block, { sha256: ref.sha256, key: entry.key });
 */
export function decodeImageBlock(bytes: Uint8Array, ref?: BlockExpectation | (BlockRef & { key?: string })): ImageBlock {
  const key = ref?.key ?? 'shard';
  return guard(key, () => {
    checkBytes(bytes);
    if (ref !== undefined && 'offset' in ref) {
      checkMagic(bytes, key);
      const block = sliceBlock(bytes, ref, key, 'image block');
      verifySha(block, ref.sha256, key, 'image block');
      return parseImageBlock(readSingle(block, key, 'image block'), key);
    }
    // A block starts with a msgpack map byte (0x80-0x8f, 0xde, 0xdf), never with the
    // magic's "F", so the two kinds of input cannot be confused.
    if (startsWithMagic(bytes)) {
      const first = readBlocks(bytes, key)[0] as RawBlock;
      if (ref !== undefined) verifySha(bytes.subarray(first.offset, first.offset + first.length), ref.sha256, key, 'image block');
      return parseImageBlock(first.value, key);
    }
    if (ref !== undefined) verifySha(bytes, ref.sha256, key, 'image block');
    return parseImageBlock(readSingle(bytes, key, 'image block'), key);
  });
}

/**
 * Decode one epoch block from exactly its bytes, as fetched with one ranged read of
 * `layout.epochs[e]`. With `expected`, the SHA-256 is checked before anything is parsed.
 * Any damage that passes the hash check (or when no hash is given) is caught by
 * validating every field; it throws `E_CORRUPT_SHARD` and never returns wrong records.
 *
 * @example
 * const ref = entry.layout.epochs[epoch];
 * const block = await driver.getRange(entry.key, ref.offset, ref.length);
 * const records = decodeEpochBlock(block, { sha256: ref.sha256, key: entry.key, epoch, records: ref.records });
 */
export function decodeEpochBlock(bytes: Uint8Array, expected?: EpochBlockExpectation): EpochRecords {
  const key = expected?.key ?? 'shard';
  return guard(key, () => {
    checkBytes(bytes);
    if (expected !== undefined) verifySha(bytes, expected.sha256, key, `epoch block${expected.epoch === undefined ? '' : ` ${expected.epoch}`}`);
    const records = parseEpochBlock(readSingle(bytes, key, 'epoch block'), key, expected?.numClasses);
    if (expected?.epoch !== undefined && records.epoch !== expected.epoch) {
      throw corrupt(key, `the block holds epoch ${records.epoch} where the manifest says epoch ${expected.epoch}`);
    }
    if (expected?.records !== undefined && records.count !== expected.records) {
      throw corrupt(key, `epoch ${records.epoch} holds ${records.count} records where the manifest says ${expected.records}`);
    }
    return records;
  });
}

/**
 * Decode and check a whole shard file: framing, every block, and the agreement between
 * blocks (record counts, crops, boxes inside their images). With `layout` from the
 * manifest, the file size, the file hash and every block's offset, length and hash must
 * match it too. This is what `fkd verify` runs per shard.
 *
 * @example
 * const shard = decodeShard(await driver.get(entry.key), entry.layout, { key: entry.key, numClasses });
 */
export function decodeShard(bytes: Uint8Array, layout?: ShardLayout, options: ShardCheckOptions = {}): DecodedShard {
  const key = options.key ?? 'shard';
  return guard(key, () => {
    checkMagic(bytes, key);
    if (layout !== undefined) {
      if (bytes.length !== layout.bytes) {
        throw corrupt(key, `the file has ${bytes.length} bytes where the manifest says ${layout.bytes} (truncated or replaced)`);
      }
      verifySha(bytes, layout.sha256, key, 'file');
    }
    const blocks = readBlocks(bytes, key);
    const images = parseImageBlock(blocks[0]?.value, key);
    const epochs = blocks.slice(1).map((block) => parseEpochBlock(block.value, key, options.numClasses));
    const refs = blocks.map((block) => ({
      offset: block.offset,
      length: block.length,
      sha256: sha256Hex(bytes.subarray(block.offset, block.offset + block.length)),
    }));
    const [imageRef, ...epochRefs] = refs as [BlockRef, ...BlockRef[]];
    const actual: ShardLayout = {
      bytes: bytes.length,
      sha256: layout?.sha256 ?? sha256Hex(bytes),
      images: imageRef,
      epochs: epochRefs.map((ref, e) => ({ ...ref, epoch: e, records: (epochs[e] as EpochRecords).count })),
    };
    if (layout !== undefined) compareLayouts(actual, layout, key);
    checkShardConsistency(images, epochs, key);
    return { images, epochs, layout: actual };
  });
}

/**
 * Shard-local indices of the images that have records, in order: record `r` of an epoch
 * block belongs to image `imageStart + presentImages(block)[Math.floor(r / crops)]`.
 *
 * @example
 * presentImages({ imageStart: 0, imageCount: 4, widths, heights, skipped: [1], paths }); // Uint32Array [0, 2, 3]
 */
export function presentImages(images: ImageBlock): Uint32Array {
  const present = new Uint32Array(images.imageCount - images.skipped.length);
  let next = 0;
  let s = 0;
  for (let i = 0; i < images.imageCount; i++) {
    if (images.skipped[s] === i) s++;
    else present[next++] = i;
  }
  return present;
}

/**
 * Size in bytes of the uncompressed column payload, per FORMAT.md.
 *
 * @example
 * columnBytes(4000, 5, 2); // 112500
 */
export function columnBytes(count: number, topK: number, classBytes: 2 | 4): number {
  return 8 * count + Math.ceil(count / 8) + count * topK * (classBytes + 2);
}

/**
 * Class ids take 2 bytes unless some class index does not fit in a uint16.
 *
 * @example
 * classBytesFor(1000);   // 2
 * classBytesFor(21843);  // 2
 * classBytesFor(100000); // 4
 */
export function classBytesFor(numClasses: number): 2 | 4 {
  return numClasses > 0x10000 ? 4 : 2;
}

// ---------------------------------------------------------------------------------------
// Encoding

function encodeImageBlock(images: ImageBlock): Uint8Array {
  let largest = 0;
  for (let i = 0; i < images.imageCount; i++) {
    largest = Math.max(largest, images.widths[i] as number, images.heights[i] as number);
  }
  const sizeBytes = largest > 0xffff ? 4 : 2;
  const paths = utf8Encoder.encode(images.paths.join(PATH_SEPARATOR));
  if (paths.length > MAX_PATHS_RAW_BYTES) {
    throw usage(`the image paths take ${paths.length} bytes, above the ${MAX_PATHS_RAW_BYTES}-byte limit; use fewer images per shard`);
  }
  return packr.pack({
    kind: 'images',
    imageStart: images.imageStart,
    imageCount: images.imageCount,
    sizeBytes,
    widths: writeUints(images.widths, sizeBytes),
    heights: writeUints(images.heights, sizeBytes),
    skipped: [...images.skipped],
    pathsBytes: paths.length,
    paths: brotli(paths),
  });
}

/** Brotli with the fixed settings above, so identical input gives identical bytes. */
function brotli(raw: Uint8Array): Uint8Array {
  const compressed = brotliCompressSync(raw, {
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [zlibConstants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
      [zlibConstants.BROTLI_PARAM_MODE]: zlibConstants.BROTLI_MODE_GENERIC,
    },
  });
  return new Uint8Array(compressed.buffer, compressed.byteOffset, compressed.length);
}

function encodeEpochBlock(records: EpochRecords, numClasses: number): Uint8Array {
  const classBytes = classBytesFor(numClasses);
  const payload = brotli(packColumns(records, classBytes));
  return packr.pack({
    kind: 'epoch',
    epoch: records.epoch,
    crops: records.crops,
    topK: records.topK,
    records: records.count,
    classBytes,
    encoding: 'brotli',
    payload,
  });
}

/**
 * The column layout measured smallest on simulated teacher output (see FORMAT.md): box
 * columns as byte planes, flips as bits, classes as little-endian words row-major (crops
 * of one image repeat whole class ids, which LZ matches find best when a class's bytes
 * stay together), and codes delta-coded per record, rank-major, as byte planes (each
 * rank's deltas have their own small range, and the high bytes are almost all zero).
 */
function packColumns(records: EpochRecords, classBytes: 2 | 4): Uint8Array {
  const { count: n, topK: k } = records;
  const out = new Uint8Array(columnBytes(n, k, classBytes));
  let at = 0;
  for (const column of [records.top, records.left, records.height, records.width]) {
    writePlanes(column, out, at);
    at += 2 * n;
  }
  for (let i = 0; i < n; i++) {
    if (records.flip[i] === 1) out[at + (i >> 3)] = (out[at + (i >> 3)] as number) | (1 << (i & 7));
  }
  at += Math.ceil(n / 8);
  out.set(writeUints(records.classes, classBytes), at);
  at += n * k * classBytes;
  const deltas = new Uint16Array(n * k);
  for (let i = 0; i < n; i++) {
    let previous = 0;
    for (let j = 0; j < k; j++) {
      const code = records.codes[i * k + j] as number;
      deltas[j * n + i] = code - previous;
      previous = code;
    }
  }
  writePlanes(deltas, out, at);
  return out;
}

function writePlanes(values: Uint16Array, out: Uint8Array, at: number): void {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const value = values[i] as number;
    out[at + i] = value & 0xff;
    out[at + n + i] = value >>> 8;
  }
}

function writeUints(values: ArrayLike<number>, width: 2 | 4): Uint8Array {
  const out = new Uint8Array(values.length * width);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    if (width === 2) view.setUint16(i * 2, values[i] as number, true);
    else view.setUint32(i * 4, values[i] as number, true);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Decoding

interface RawBlock {
  value: unknown;
  offset: number;
  length: number;
}

/** Every msgpack value after the magic, with where it sits in the file. */
function readBlocks(bytes: Uint8Array, key: string): RawBlock[] {
  const body = bytes.subarray(MAGIC.length);
  if (body.length === 0) throw corrupt(key, 'the file ends right after its magic, with no image block');
  const blocks: RawBlock[] = [];
  try {
    unpackr.unpackMultiple(body, (value: unknown, start?: number, end?: number) => {
      const from = start ?? 0;
      const to = end ?? body.length;
      blocks.push({ value, offset: MAGIC.length + from, length: to - from });
    });
  } catch (error) {
    throw corrupt(key, 'its blocks are not valid msgpack (truncated or damaged)', error);
  }
  return blocks;
}

/** Exactly one msgpack value spanning all of `bytes`. */
function readSingle(bytes: Uint8Array, key: string, what: string): unknown {
  if (bytes.length === 0) throw corrupt(key, `the ${what} is empty`);
  const values: unknown[] = [];
  try {
    unpackr.unpackMultiple(bytes.subarray(0), (value: unknown) => {
      values.push(value);
    });
  } catch (error) {
    throw corrupt(key, `the ${what} is not valid msgpack (truncated or damaged)`, error);
  }
  if (values.length !== 1) throw corrupt(key, `the ${what} holds ${values.length} msgpack values instead of 1`);
  return values[0];
}

function parseImageBlock(value: unknown, key: string): ImageBlock {
  const block = checkObject(value, IMAGE_BLOCK_KEYS, key, 'image block');
  if (block.kind !== 'images') throw corrupt(key, `the first block has kind ${describe(block.kind)} instead of "images"`);
  const field = (name: string, min: number, max: number): number => {
    const v = block[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw corrupt(key, `image block field ${name} is ${describe(v)}, not an integer in ${min}..${max}`);
    }
    return v;
  };
  const imageStart = field('imageStart', 0, Number.MAX_SAFE_INTEGER);
  const imageCount = field('imageCount', 1, 0xffffffff);
  const sizeBytes = field('sizeBytes', 2, 4);
  if (sizeBytes === 3) throw corrupt(key, 'image block field sizeBytes is 3, not 2 or 4');
  const widths = readUints(block.widths, imageCount, sizeBytes as 2 | 4, key, 'widths');
  const heights = readUints(block.heights, imageCount, sizeBytes as 2 | 4, key, 'heights');
  if (!Array.isArray(block.skipped)) throw corrupt(key, `image block field skipped is ${describe(block.skipped)}, not an array`);
  const paths = readPaths(block, imageCount, key);
  const images: ImageBlock = { imageStart, imageCount, widths, heights, skipped: block.skipped as number[], paths };
  // The encoder's own rules, so a forged path can never point outside the dataset root.
  checkImageBlock(images, (message) => corrupt(key, `image block: ${message}`));
  let largest = 0;
  for (let i = 0; i < imageCount; i++) largest = Math.max(largest, widths[i] as number, heights[i] as number);
  if ((largest > 0xffff ? 4 : 2) !== sizeBytes) {
    throw corrupt(key, `image block uses ${sizeBytes}-byte sizes for a largest side of ${largest}`);
  }
  return { ...images, skipped: [...images.skipped] };
}

/** The image block's `paths` field: brotli of the UTF-8 paths joined with NUL. */
function readPaths(block: Record<string, unknown>, imageCount: number, key: string): string[] {
  const size = block.pathsBytes;
  // imageCount non-empty paths and imageCount - 1 separators need at least 2n - 1 bytes.
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 2 * imageCount - 1 || size > MAX_PATHS_RAW_BYTES) {
    throw corrupt(key, `image block field pathsBytes is ${describe(size)}, not an integer in ${2 * imageCount - 1}..${MAX_PATHS_RAW_BYTES} for ${imageCount} images`);
  }
  if (!(block.paths instanceof Uint8Array)) throw corrupt(key, `image block field paths is ${describe(block.paths)}, not bytes`);
  let raw: Uint8Array;
  try {
    // The bomb guard again: brotli stops at the size the header claims.
    raw = brotliDecompressSync(block.paths, { maxOutputLength: size });
  } catch (error) {
    throw corrupt(key, `image block: the brotli paths do not decompress to ${size} bytes`, error);
  }
  if (raw.length !== size) throw corrupt(key, `image block: the paths decompress to ${raw.length} bytes instead of ${size}`);
  let text: string;
  try {
    text = utf8Decoder.decode(raw);
  } catch (error) {
    throw corrupt(key, 'image block: the paths are not valid UTF-8', error);
  }
  const paths = text.split(PATH_SEPARATOR);
  if (paths.length !== imageCount) throw corrupt(key, `image block holds ${paths.length} paths for ${imageCount} images`);
  return paths;
}

function parseEpochBlock(value: unknown, key: string, numClasses: number | undefined): EpochRecords {
  const block = checkObject(value, EPOCH_BLOCK_KEYS, key, 'epoch block');
  if (block.kind !== 'epoch') throw corrupt(key, `a block has kind ${describe(block.kind)} instead of "epoch"`);
  const field = (name: string, min: number, max: number): number => {
    const v = block[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw corrupt(key, `epoch block field ${name} is ${describe(v)}, not an integer in ${min}..${max}`);
    }
    return v;
  };
  const epoch = field('epoch', 0, 0xffffffff);
  const crops = field('crops', 1, 0xffffffff);
  const topK = field('topK', 1, 0xffffffff);
  const count = field('records', 0, 0xffffffff);
  const classBytes = field('classBytes', 2, 4);
  if (classBytes === 3) throw corrupt(key, `epoch ${epoch}: classBytes is 3, not 2 or 4`);
  if (block.encoding !== 'brotli') throw corrupt(key, `epoch ${epoch}: encoding is ${describe(block.encoding)}, not "brotli"`);
  if (!(block.payload instanceof Uint8Array)) throw corrupt(key, `epoch ${epoch}: payload is ${describe(block.payload)}, not bytes`);
  if (count % crops !== 0) throw corrupt(key, `epoch ${epoch}: ${count} records is not a multiple of ${crops} crops per image`);
  if (numClasses !== undefined) {
    if (topK > numClasses) throw corrupt(key, `epoch ${epoch}: topK ${topK} exceeds the ${numClasses} classes`);
    if (classBytes !== classBytesFor(numClasses)) {
      throw corrupt(key, `epoch ${epoch}: ${classBytes}-byte class ids do not match ${numClasses} classes`);
    }
  }
  const rawSize = columnBytes(count, topK, classBytes as 2 | 4);
  if (rawSize > MAX_EPOCH_RAW_BYTES) {
    throw corrupt(key, `epoch ${epoch} claims ${count} records of top-${topK}, ${rawSize} bytes unpacked, above the ${MAX_EPOCH_RAW_BYTES}-byte limit`);
  }
  let raw: Uint8Array;
  try {
    // maxOutputLength is the bomb guard: brotli stops at the exact size the header implies.
    raw = brotliDecompressSync(block.payload, { maxOutputLength: Math.max(1, rawSize) });
  } catch (error) {
    throw corrupt(key, `epoch ${epoch}: the brotli payload does not decompress to ${rawSize} bytes`, error);
  }
  if (raw.length !== rawSize) {
    throw corrupt(key, `epoch ${epoch}: the payload decompresses to ${raw.length} bytes instead of ${rawSize}`);
  }
  return unpackColumns(raw, { epoch, crops, topK, count, classBytes: classBytes as 2 | 4 }, key, numClasses);
}

function unpackColumns(
  raw: Uint8Array,
  header: { epoch: number; crops: number; topK: number; count: number; classBytes: 2 | 4 },
  key: string,
  numClasses: number | undefined,
): EpochRecords {
  const { epoch, crops, topK: k, count: n, classBytes } = header;
  const fail = (message: string): FkdError => corrupt(key, `epoch ${epoch}: ${message}`);
  let at = 0;
  const boxes = [0, 1, 2, 3].map(() => {
    const column = readPlanes(raw, at, n);
    at += 2 * n;
    return column;
  }) as [Uint16Array, Uint16Array, Uint16Array, Uint16Array];
  const [top, left, height, width] = boxes;
  const flip = new Uint8Array(n);
  for (let i = 0; i < n; i++) flip[i] = ((raw[at + (i >> 3)] as number) >> (i & 7)) & 1;
  if (n % 8 !== 0 && (raw[at + (n >> 3)] as number) >> (n % 8) !== 0) throw fail('unused flip bits are set');
  at += Math.ceil(n / 8);
  const classes = new Uint32Array(n * k);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let q = 0; q < n * k; q++) {
    classes[q] = classBytes === 2 ? view.getUint16(at + q * 2, true) : view.getUint32(at + q * 4, true);
  }
  at += n * k * classBytes;
  const deltas = readPlanes(raw, at, n * k);
  const codes = new Uint16Array(n * k);
  for (let i = 0; i < n; i++) {
    let code = 0;
    for (let j = 0; j < k; j++) {
      code += deltas[j * n + i] as number;
      if (code > ZERO_CODE) throw fail(`record ${i} has a probability code above ${ZERO_CODE}`);
      codes[i * k + j] = code;
    }
  }
  const records: EpochRecords = { epoch, crops, topK: k, count: n, top, left, height, width, flip, classes, codes };
  const problem = checkRecordValues(records, numClasses);
  if (problem !== undefined) throw fail(problem);
  return records;
}

function readPlanes(raw: Uint8Array, at: number, n: number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = (raw[at + i] as number) | ((raw[at + n + i] as number) << 8);
  return out;
}

function readUints(value: unknown, count: number, width: 2 | 4, key: string, name: string): Uint32Array {
  if (!(value instanceof Uint8Array) || value.length !== count * width) {
    throw corrupt(key, `image block field ${name} is ${describe(value)}, not ${count * width} bytes`);
  }
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = width === 2 ? view.getUint16(i * 2, true) : view.getUint32(i * 4, true);
  return out;
}

// ---------------------------------------------------------------------------------------
// Validation shared by the encoder (E_USAGE) and the decoder (E_CORRUPT_SHARD)

type Fail = (message: string) => FkdError;

const usage: Fail = (message) => new FkdError('E_USAGE', `Cannot encode shard: ${message}.`);

function checkImageBlock(images: ImageBlock, fail: Fail): void {
  const { imageStart, imageCount, widths, heights, skipped, paths } = images;
  if (!Number.isSafeInteger(imageStart) || imageStart < 0) throw fail(`imageStart is ${describe(imageStart)}, not a non-negative integer`);
  if (!Number.isInteger(imageCount) || imageCount < 1 || imageCount > 0xffffffff) {
    throw fail(`imageCount is ${describe(imageCount)}, not a positive integer`);
  }
  if (!(widths instanceof Uint32Array) || widths.length !== imageCount) throw fail(`widths must be a Uint32Array of ${imageCount} sizes`);
  if (!(heights instanceof Uint32Array) || heights.length !== imageCount) throw fail(`heights must be a Uint32Array of ${imageCount} sizes`);
  if (!Array.isArray(skipped)) throw fail('skipped must be an array of shard-local image indices');
  let previous = -1;
  for (const index of skipped) {
    if (typeof index !== 'number' || !Number.isInteger(index) || index <= previous || index >= imageCount) {
      throw fail(`skipped must hold ascending distinct indices in 0..${imageCount - 1} but holds ${describe(index)} after ${previous}`);
    }
    previous = index;
  }
  let s = 0;
  for (let i = 0; i < imageCount; i++) {
    if (skipped[s] === i) {
      s++;
    } else if (widths[i] === 0 || heights[i] === 0) {
      // Skipped images may have no known size (they did not decode); others must have one.
      throw fail(`image ${i} has records but a size of ${widths[i]}×${heights[i]}`);
    }
  }
  if (!Array.isArray(paths) || paths.length !== imageCount) {
    throw fail(`paths is ${describe(paths)}, not an array of ${imageCount} relative paths (one per image, skipped ones included)`);
  }
  paths.forEach((path: unknown, i) => {
    const problem = pathProblem(path);
    if (problem !== undefined) throw fail(`the path of image ${i}, ${describe(path)}, ${problem}`);
  });
}

/**
 * What makes a path unfit to name a file under the dataset root, or undefined. The
 * dataset listing produces none of these (short of a POSIX file name holding a backslash);
 * rejecting them on decode keeps a forged shard from naming a file outside the root.
 */
function pathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'is not a string';
  if (path === '') return 'is empty';
  if (path.includes(PATH_SEPARATOR)) return 'contains NUL';
  if (path.includes('\\')) return 'contains a backslash; paths are /-separated';
  if (path.startsWith('/')) return 'is absolute; paths are relative to the dataset root';
  if (path.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return 'has an empty, "." or ".." segment';
  }
  // A lone surrogate would come back as U+FFFD: the path would not read back.
  if (/\p{Cs}/u.test(path)) return 'is not well-formed Unicode (lone surrogate)';
  return undefined;
}

function checkEpochInput(
  records: EpochRecords,
  index: number,
  first: EpochRecords,
  images: ImageBlock,
  present: Uint32Array,
  numClasses: number,
): void {
  const at = `epoch ${index}`;
  if (records.epoch !== index) throw usage(`epochs must be given in order 0..E-1, but position ${index} holds epoch ${describe(records.epoch)}`);
  checkInteger(records.crops, `${at} crops`, 1, 0xffffffff);
  checkInteger(records.topK, `${at} topK`, 1, numClasses);
  if (records.crops !== first.crops || records.topK !== first.topK) {
    throw usage(`${at} has ${records.crops} crops of top-${records.topK} but epoch 0 has ${first.crops} of top-${first.topK}`);
  }
  const count = present.length * records.crops;
  if (records.count !== count) {
    throw usage(`${at} has ${describe(records.count)} records but ${present.length} images with records × ${records.crops} crops need ${count}`);
  }
  const n = records.count;
  const k = records.topK;
  for (const name of ['top', 'left', 'height', 'width'] as const) {
    if (!(records[name] instanceof Uint16Array) || records[name].length !== n) throw usage(`${at} ${name} must be a Uint16Array of ${n} values`);
  }
  if (!(records.flip instanceof Uint8Array) || records.flip.length !== n) throw usage(`${at} flip must be a Uint8Array of ${n} values`);
  if (!(records.classes instanceof Uint32Array) || records.classes.length !== n * k) {
    throw usage(`${at} classes must be a Uint32Array of ${n} × ${k} values`);
  }
  if (!(records.codes instanceof Uint16Array) || records.codes.length !== n * k) throw usage(`${at} codes must be a Uint16Array of ${n} × ${k} values`);
  if (columnBytes(n, k, classBytesFor(numClasses)) > MAX_EPOCH_RAW_BYTES) {
    throw usage(`${at} would unpack to more than ${MAX_EPOCH_RAW_BYTES} bytes; use fewer images per shard`);
  }
  for (let i = 0; i < n; i++) {
    const flip = records.flip[i] as number;
    if (flip > 1) throw usage(`${at} record ${i} has flip ${flip}, not 0 or 1`);
    for (let j = 1; j < k; j++) {
      if ((records.codes[i * k + j] as number) < (records.codes[i * k + j - 1] as number)) {
        throw usage(`${at} record ${i} has probability codes out of order; top-k probabilities must be in descending order`);
      }
    }
  }
  const problem = checkRecordValues(records, numClasses) ?? checkBoxes(records, images, present);
  if (problem !== undefined) throw usage(`${at}: ${problem}`);
}

/** Checks on decoded values that hold for any valid epoch; returns the first problem. */
function checkRecordValues(records: EpochRecords, numClasses: number | undefined): string | undefined {
  const { count: n, topK: k, classes } = records;
  const probs = decodeProbabilities(records.codes);
  for (let i = 0; i < n; i++) {
    if (records.height[i] === 0 || records.width[i] === 0) return `record ${i} has an empty box`;
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const cls = classes[i * k + j] as number;
      if (numClasses !== undefined && cls >= numClasses) return `record ${i} names class ${cls} of ${numClasses}`;
      for (let other = 0; other < j; other++) {
        if (classes[i * k + other] === cls) return `record ${i} names class ${cls} twice`;
      }
      sum += probs[i * k + j] as number;
    }
    // Top-k probabilities of one distribution cannot sum above 1 (plus rounding).
    if (sum > MAX_TOPK_SUM) return `record ${i} has top-${k} probabilities summing to ${sum.toFixed(4)}`;
  }
  return undefined;
}

/** Every box must lie inside the image it belongs to. */
function checkBoxes(records: EpochRecords, images: ImageBlock, present: Uint32Array): string | undefined {
  for (let i = 0; i < records.count; i++) {
    const image = present[Math.floor(i / records.crops)] as number;
    const w = images.widths[image] as number;
    const h = images.heights[image] as number;
    const top = records.top[i] as number;
    const left = records.left[i] as number;
    if (top + (records.height[i] as number) > h || left + (records.width[i] as number) > w) {
      return `record ${i} has box (top ${top}, left ${left}, height ${records.height[i]}, width ${records.width[i]}) outside its ${w}×${h} image ${image}`;
    }
  }
  return undefined;
}

function checkShardConsistency(images: ImageBlock, epochs: EpochRecords[], key: string): void {
  const present = presentImages(images);
  const first = epochs[0];
  epochs.forEach((records, e) => {
    if (records.epoch !== e) throw corrupt(key, `block ${e + 1} holds epoch ${records.epoch} instead of ${e}`);
    if (first !== undefined && (records.crops !== first.crops || records.topK !== first.topK)) {
      throw corrupt(key, `epoch ${e} has ${records.crops} crops of top-${records.topK} but epoch 0 has ${first.crops} of top-${first.topK}`);
    }
    if (records.count !== present.length * records.crops) {
      throw corrupt(key, `epoch ${e} has ${records.count} records, not ${present.length} images × ${records.crops} crops`);
    }
    const problem = checkBoxes(records, images, present);
    if (problem !== undefined) throw corrupt(key, `epoch ${e}: ${problem}`);
  });
}

function compareLayouts(actual: ShardLayout, expected: ShardLayout, key: string): void {
  const same = (a: BlockRef, b: BlockRef): boolean => a.offset === b.offset && a.length === b.length && a.sha256 === b.sha256;
  if (!same(actual.images, expected.images)) throw corrupt(key, 'the image block does not match the manifest layout');
  if (actual.epochs.length !== expected.epochs.length) {
    throw corrupt(key, `the file holds ${actual.epochs.length} epoch blocks where the manifest lists ${expected.epochs.length}`);
  }
  actual.epochs.forEach((ref, e) => {
    const want = expected.epochs[e] as EpochBlockRef;
    if (!same(ref, want) || ref.epoch !== want.epoch || ref.records !== want.records) {
      throw corrupt(key, `epoch block ${e} does not match the manifest layout`);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Helpers

function checkBytes(bytes: unknown): void {
  if (!(bytes instanceof Uint8Array)) throw new FkdError('E_USAGE', 'Expected the shard bytes as a Uint8Array.');
}

function startsWithMagic(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((byte, i) => bytes[i] === byte);
}

function checkMagic(bytes: Uint8Array, key: string): void {
  checkBytes(bytes);
  if (!startsWithMagic(bytes)) {
    throw corrupt(key, `it does not start with the magic "${SHARD_MAGIC}" (not an fkd v1 shard, or damaged)`);
  }
}

function sliceBlock(bytes: Uint8Array, ref: BlockRef, key: string, what: string): Uint8Array {
  if (!Number.isSafeInteger(ref.offset) || !Number.isSafeInteger(ref.length) || ref.offset < MAGIC.length || ref.length < 1) {
    throw new FkdError('E_USAGE', `Invalid block reference for the ${what} of ${key}: offset ${ref.offset}, length ${ref.length}.`);
  }
  if (ref.offset + ref.length > bytes.length) {
    throw corrupt(key, `the ${what} should end at byte ${ref.offset + ref.length} but the data ends at ${bytes.length} (truncated)`);
  }
  return bytes.subarray(ref.offset, ref.offset + ref.length);
}

function verifySha(bytes: Uint8Array, expected: string, key: string, what: string): void {
  const actual = sha256Hex(bytes);
  if (actual !== expected) throw corrupt(key, `the ${what} hashes to ${actual} but the manifest says ${expected}`);
}

function checkObject(value: unknown, keys: string[], key: string, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) {
    throw corrupt(key, `the ${what} is ${describe(value)}, not a msgpack map`);
  }
  const actual = Object.keys(value);
  const missing = keys.filter((name) => !actual.includes(name));
  const extra = actual.filter((name) => !keys.includes(name));
  if (missing.length > 0 || extra.length > 0) {
    throw corrupt(key, `the ${what} has fields [${actual.join(', ')}] instead of [${keys.join(', ')}]`);
  }
  return value as Record<string, unknown>;
}

function checkInteger(value: unknown, name: string, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw usage(`${name} is ${describe(value)}, not an integer in ${min}..${max}`);
  }
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

function corrupt(key: string, detail: string, cause?: unknown): FkdError {
  return new FkdError(
    'E_CORRUPT_SHARD',
    `Shard ${key} is corrupt: ${detail}. Re-run the same \`fkd label\` command to regenerate it, or run \`fkd verify\` to check the whole store.`,
    cause === undefined ? { path: key } : { path: key, cause },
  );
}

/** Whatever a hostile byte makes msgpackr, brotli or our checks throw becomes E_CORRUPT_SHARD. */
function guard<T>(key: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof FkdError) throw error;
    throw corrupt(key, 'it could not be decoded', error);
  }
}
