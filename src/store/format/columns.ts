import { ZERO_CODE } from '../../labels/codec.js';

/**
 * Shard files (`shards/NNNNNN.fkd`): the magic, then one msgpack image block, then one
 * msgpack epoch block per label epoch. docs/FORMAT.md is the normative description; the
 * comments here say why the code is the way it is. This module holds what the encoder
 * and the decoder share: the constants, the shapes of decoded blocks, and the byte layout
 * of the column payload.
 */

export const SHARD_MAGIC = 'FKDSHRD1';
export const MAGIC = new TextEncoder().encode(SHARD_MAGIC);

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

/**
 * Longest image path, in UTF-8 bytes: Linux's PATH_MAX, which no file a dataset scan finds
 * exceeds. With it an image block's `pathsBytes` is bounded by its image count
 * (`imageCount × (MAX_PATH_BYTES + 1) − 1`) before anything is inflated.
 */
export const MAX_PATH_BYTES = 4096;

/**
 * Largest block a reader fetches. An epoch block holds at most MAX_EPOCH_RAW_BYTES of
 * columns, which Brotli never expands by more than a few bytes per 64 KiB; an image block
 * holds at most MAX_PATHS_RAW_BYTES of paths plus 8 bytes of sizes per image. Checked
 * against the manifest before any read: Node's file reads abort the process (not throw)
 * on a length of 2^31 or more.
 */
export const MAX_BLOCK_BYTES = 2 * MAX_EPOCH_RAW_BYTES;

/** Largest shard file: what one Buffer read holds on every platform Node supports. */
export const MAX_SHARD_BYTES = 2 ** 31 - 1;

/**
 * Largest ratio of unpacked column bytes to compressed payload bytes a reader accepts.
 * Real epoch blocks compress 2–4× (28 → 10.9 B/record on real photos); boxes are random,
 * so no honest block comes near 1024×. A block that claims more is a decompression bomb
 * that fits within MAX_EPOCH_RAW_BYTES (a 46 KB block claiming 10.5 M records), refused
 * before it is inflated.
 */
export const MAX_COMPRESSION_RATIO = 1024;

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
  /**
   * Format 2: `CONTENT_HASH_BYTES` (dataset/file.ts) per image, skipped ones included (all zero for them): the
   * first bytes of the SHA-256 of the image file as the label pass read it. Absent in format 1.
   */
  contentHashes?: Uint8Array;
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
  /**
   * Set on records decoded from a `labels` block (a `boxes-from` store): its box and flip
   * columns are zero, to be filled from the store the boxes come from before use.
   */
  boxless?: boolean;
  /**
   * The probabilities themselves, when the records were computed rather than read (a teacher
   * mean, store/ensemble.ts): readers use them instead of decoding `codes`, their rounding.
   */
  probs?: Float32Array;
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

/**
 * What the manifest says about a shard's images. Every field given must match the image
 * block: a reader that maps records through the manifest and one that maps them through
 * the image block must never reach different images.
 */
export interface ImageExpectation {
  imageStart?: number;
  imageCount?: number;
  /** The shard's entries of `dataset.skipped`, as shard-local indices with their paths. */
  skipped?: Array<{ local: number; path: string }>;
  /** Whether the block must hold content hashes (format 2) or must not (format 1). */
  contentHashes?: boolean;
}

/** What the manifest says about an epoch block. Every field given must match the block. */
export interface EpochExpectation {
  epoch?: number;
  records?: number;
  /** When given, classes must be below it and use the width the encoder picks for it. */
  numClasses?: number;
  /** `sampler.crops`. */
  crops?: number;
  /** `codec.topK`. */
  topK?: number;
  /** The shard's decoded image block: every box must lie inside its image. */
  images?: ImageBlock;
  /** Whether blocks must be `labels` blocks (the manifest's `boxesFrom`) or must be `epoch` blocks. */
  boxless?: boolean;
}

export interface ImageBlockExpectation extends BlockExpectation, ImageExpectation {}

export interface EpochBlockExpectation extends BlockExpectation, EpochExpectation {}

export interface ShardCheckOptions extends ImageExpectation, Omit<EpochExpectation, 'epoch' | 'records' | 'images'> {
  /** The shard's store key, for messages. */
  key?: string;
}

// Paths are joined with NUL, which no file path can contain.
export const PATH_SEPARATOR = '\0';

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
export function columnBytes(count: number, topK: number, classBytes: 2 | 4, boxes = true): number {
  return (boxes ? 8 * count + Math.ceil(count / 8) : 0) + count * topK * (classBytes + 2);
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

/**
 * The column layout measured smallest on simulated teacher output (see FORMAT.md): box
 * columns as byte planes, flips as bits, classes as little-endian words row-major (crops
 * of one image repeat whole class ids, which LZ matches find best when a class's bytes
 * stay together), and codes delta-coded per record, rank-major, as byte planes (each
 * rank's deltas have their own small range, and the high bytes are almost all zero).
 */
export function packColumns(records: EpochRecords, classBytes: 2 | 4, boxes = true): Uint8Array {
  const { count: n, topK: k } = records;
  const out = new Uint8Array(columnBytes(n, k, classBytes, boxes));
  let at = 0;
  // A `labels` block (boxes-from) leaves out the box and flip sections; the rest is the same.
  if (boxes) {
    for (const column of [records.top, records.left, records.height, records.width]) {
      writePlanes(column, out, at);
      at += 2 * n;
    }
    for (let i = 0; i < n; i++) {
      if (records.flip[i] === 1) out[at + (i >> 3)] = (out[at + (i >> 3)] as number) | (1 << (i & 7));
    }
    at += Math.ceil(n / 8);
  }
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

export function writeUints(values: ArrayLike<number>, width: 2 | 4): Uint8Array {
  const out = new Uint8Array(values.length * width);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    if (width === 2) view.setUint16(i * 2, values[i] as number, true);
    else view.setUint32(i * 4, values[i] as number, true);
  }
  return out;
}

/** The header fields of an epoch block that fix its column layout. */
export interface ColumnHeader {
  epoch: number;
  crops: number;
  topK: number;
  count: number;
  classBytes: 2 | 4;
  /** False for a `labels` block: no box or flip sections. */
  boxes: boolean;
}

/**
 * The inverse of packColumns. `raw` must be exactly columnBytes(...) long. What only the
 * byte layout can tell (unused flip bits set, a running code above ZERO_CODE) goes to
 * `fail`; every other check on the values is the caller's.
 */
export function unpackColumns(raw: Uint8Array, header: ColumnHeader, fail: (message: string) => Error): EpochRecords {
  const { epoch, crops, topK: k, count: n, classBytes } = header;
  let at = 0;
  const boxes = [0, 1, 2, 3].map(() => {
    if (!header.boxes) return new Uint16Array(n);
    const column = readPlanes(raw, at, n);
    at += 2 * n;
    return column;
  }) as [Uint16Array, Uint16Array, Uint16Array, Uint16Array];
  const [top, left, height, width] = boxes;
  const flip = new Uint8Array(n);
  if (header.boxes) {
    for (let i = 0; i < n; i++) flip[i] = ((raw[at + (i >> 3)] as number) >> (i & 7)) & 1;
    if (n % 8 !== 0 && (raw[at + (n >> 3)] as number) >> (n % 8) !== 0) throw fail('unused flip bits are set');
    at += Math.ceil(n / 8);
  }
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
  return { epoch, crops, topK: k, count: n, top, left, height, width, flip, classes, codes, ...(header.boxes ? {} : { boxless: true }) };
}

function readPlanes(raw: Uint8Array, at: number, n: number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = (raw[at + i] as number) | ((raw[at + n + i] as number) << 8);
  return out;
}

