import { brotliDecompressSync } from 'node:zlib';
import { Unpackr } from 'msgpackr';
import { sha256Hex } from '../../io/hash.js';
import {
  MAGIC,
  MAX_COMPRESSION_RATIO,
  MAX_EPOCH_RAW_BYTES,
  MAX_PATHS_RAW_BYTES,
  MAX_PATH_BYTES,
  PATH_SEPARATOR,
  classBytesFor,
  columnBytes,
  unpackColumns,
  type BlockRef,
  type DecodedShard,
  type EpochBlockExpectation,
  type EpochRecords,
  type ImageBlock,
  type ImageBlockExpectation,
  type ImageExpectation,
  type ShardCheckOptions,
  type ShardLayout,
} from './columns.js';
import {
  EPOCH_BLOCK_FIELDS,
  IMAGE_BLOCK_FIELDS,
  checkBlockShape,
  checkBytes,
  checkEpochAgainst,
  checkImageBlock,
  checkImagesAgainst,
  checkMagic,
  checkObject,
  checkRecordValues,
  checkShardConsistency,
  compareLayouts,
  corrupt,
  describe,
  guard,
  sliceBlock,
  startsWithMagic,
  verifySha,
} from './validate.js';

/** Reading shards: every byte is checked, and anything wrong is E_CORRUPT_SHARD. */

// §4 allows any integer format: 64-bit ones (uint64, int64, non-minimal) decode to numbers when
// safe; beyond 2^53 − 1 they stay BigInts, which every integer check refuses. (msgpackr's types
// list 'number' | 'bigint' | 'string' only, but it implements 'auto'; the test holds it to that.)
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'number' });

const IMAGE_BLOCK_KEYS = ['kind', 'imageStart', 'imageCount', 'sizeBytes', 'widths', 'heights', 'skipped', 'pathsBytes', 'paths'];
/** Format 2 adds the content hashes; a block has exactly one of the two key sets. */
const IMAGE_BLOCK_KEYS_V2 = [...IMAGE_BLOCK_KEYS, 'contentHashes'];

// The decoder is strict (invalid UTF-8 is corruption) and keeps a leading U+FEFF, so decoding inverts encoding.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const EPOCH_BLOCK_KEYS = ['kind', 'epoch', 'crops', 'topK', 'records', 'classBytes', 'encoding', 'payload'];

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
export function decodeImageBlock(bytes: Uint8Array, ref?: ImageBlockExpectation | (BlockRef & ImageExpectation & { key?: string })): ImageBlock {
  const key = ref?.key ?? 'shard';
  return guard(key, () => {
    checkBytes(bytes);
    let images: ImageBlock;
    if (ref !== undefined && 'offset' in ref) {
      checkMagic(bytes, key);
      const block = sliceBlock(bytes, ref, key, 'image block');
      verifySha(block, ref.sha256, key, 'image block');
      images = parseImageBlock(readSingle(block, key, 'image block'), key);
    } else if (startsWithMagic(bytes)) {
      // A block starts with a msgpack map byte (0x80-0x8f, 0xde, 0xdf), never with the
      // magic's "F", so the two kinds of input cannot be confused.
      const first = readBlocks(bytes, key)[0] as RawBlock;
      if (ref !== undefined) verifySha(bytes.subarray(first.offset, first.offset + first.length), ref.sha256, key, 'image block');
      images = parseImageBlock(first.value, key);
    } else {
      if (ref !== undefined) verifySha(bytes, ref.sha256, key, 'image block');
      images = parseImageBlock(readSingle(bytes, key, 'image block'), key);
    }
    if (ref !== undefined) checkImagesAgainst(images, ref, key);
    return images;
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
 * const records = decodeEpochBlock(block, {
 *   sha256: ref.sha256, key: entry.key, epoch, records: ref.records,
 *   numClasses: manifest.dataset.classes.length, crops: manifest.sampler.crops, topK: manifest.codec.topK, images,
 * });
 */
export function decodeEpochBlock(bytes: Uint8Array, expected?: EpochBlockExpectation): EpochRecords {
  const key = expected?.key ?? 'shard';
  return guard(key, () => {
    checkBytes(bytes);
    if (expected !== undefined) verifySha(bytes, expected.sha256, key, `epoch block${expected.epoch === undefined ? '' : ` ${expected.epoch}`}`);
    const records = parseEpochBlock(readSingle(bytes, key, 'epoch block'), key, expected?.numClasses);
    if (expected !== undefined) checkEpochAgainst(records, expected, key);
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
    checkImagesAgainst(images, options, key);
    for (const records of epochs) checkEpochAgainst(records, options, key);
    return { images, epochs, layout: actual };
  });
}

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
  blocks.forEach((block, i) => {
    checkBlockShape(bytes, block.offset, block.offset + block.length, i === 0 ? IMAGE_BLOCK_FIELDS : EPOCH_BLOCK_FIELDS, key, i === 0 ? 'image block' : `block ${i}`);
  });
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
  checkBlockShape(bytes, 0, bytes.length, what === 'image block' ? IMAGE_BLOCK_FIELDS : EPOCH_BLOCK_FIELDS, key, what);
  return values[0];
}

function parseImageBlock(value: unknown, key: string): ImageBlock {
  const hashed = typeof value === 'object' && value !== null && Object.hasOwn(value, 'contentHashes');
  const block = checkObject(value, hashed ? IMAGE_BLOCK_KEYS_V2 : IMAGE_BLOCK_KEYS, key, 'image block');
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
  if (hashed) {
    if (!(block.contentHashes instanceof Uint8Array)) throw corrupt(key, `image block field contentHashes is ${describe(block.contentHashes)}, not bytes`);
    images.contentHashes = block.contentHashes;
  }
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
  // At most MAX_PATH_BYTES per path and one separator between two: bounded by the image count.
  const most = Math.min(MAX_PATHS_RAW_BYTES, imageCount * (MAX_PATH_BYTES + 1) - 1);
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 2 * imageCount - 1 || size > most) {
    throw corrupt(key, `image block field pathsBytes is ${describe(size)}, not an integer in ${2 * imageCount - 1}..${most} for ${imageCount} images (paths of at most ${MAX_PATH_BYTES} bytes)`);
  }
  if (!(block.paths instanceof Uint8Array)) throw corrupt(key, `image block field paths is ${describe(block.paths)}, not bytes`);
  if (size > COMPRESSION_RATIO_FLOOR && size > MAX_COMPRESSION_RATIO * block.paths.length) {
    throw corrupt(key, `image block claims ${size} bytes of paths from ${block.paths.length} compressed bytes, a ratio above ${MAX_COMPRESSION_RATIO}:1 that no real path list reaches`);
  }
  // The bomb guard again: brotli stops at the size the header claims.
  const raw = inflate(block.paths, size, key, 'image block: the brotli paths');
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
  if (block.kind !== 'epoch' && block.kind !== 'labels') throw corrupt(key, `a block has kind ${describe(block.kind)} instead of "epoch" (or "labels")`);
  const boxes = block.kind === 'epoch';
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
  const rawSize = columnBytes(count, topK, classBytes as 2 | 4, boxes);
  if (rawSize > MAX_EPOCH_RAW_BYTES) {
    throw corrupt(key, `epoch ${epoch} claims ${count} records of top-${topK}, ${rawSize} bytes unpacked, above the ${MAX_EPOCH_RAW_BYTES}-byte limit`);
  }
  if (rawSize > COMPRESSION_RATIO_FLOOR && rawSize > MAX_COMPRESSION_RATIO * block.payload.length) {
    throw corrupt(key, `epoch ${epoch} claims ${count} records (${rawSize} bytes unpacked) from a ${block.payload.length}-byte payload, a ratio above ${MAX_COMPRESSION_RATIO}:1 that no real block reaches`);
  }
  // The bomb guard: brotli stops at the exact size the header implies.
  const raw = inflate(block.payload, rawSize, key, `epoch ${epoch}: the brotli payload`);
  if (raw.length !== rawSize) {
    throw corrupt(key, `epoch ${epoch}: the payload decompresses to ${raw.length} bytes instead of ${rawSize}`);
  }
  const fail = (message: string): Error => corrupt(key, `epoch ${epoch}${message.startsWith('record ') ? ' ' : ': '}${message}`);
  const records = unpackColumns(raw, { epoch, crops, topK, count, classBytes: classBytes as 2 | 4, boxes }, fail);
  const problem = checkRecordValues(records, numClasses);
  if (problem !== undefined) throw fail(problem);
  return records;
}

/**
 * Below this many unpacked bytes the compression-ratio rule does not apply: a small block
 * cannot take much memory whatever it claims, and a shard of identical 1×1 crops may
 * legitimately compress past MAX_COMPRESSION_RATIO.
 */
export const COMPRESSION_RATIO_FLOOR = 1024 * 1024;

/**
 * Brotli-decompress at most `size` bytes and require the stream to end exactly at the end
 * of `compressed`: bytes after the end of a Brotli stream are corruption, not padding.
 */
function inflate(compressed: Uint8Array, size: number, key: string, what: string): Uint8Array {
  let result: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    // `info: true` (not in @types/node) also returns the engine, whose bytesWritten is the input it consumed.
    const options = { maxOutputLength: Math.max(1, size), info: true } as Parameters<typeof brotliDecompressSync>[1];
    result = brotliDecompressSync(compressed, options) as unknown as typeof result;
  } catch (error) {
    throw corrupt(key, `${what}: not a Brotli stream of at most ${size} bytes`, error);
  }
  if (result.engine.bytesWritten !== compressed.length) {
    throw corrupt(key, `${what}: ${compressed.length - result.engine.bytesWritten} bytes after the end of the Brotli stream`);
  }
  return result.buffer;
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
