import { FkdError } from '../../errors.js';
import { MAX_TOPK_SUM, probabilityTable } from '../../labels/codec.js';
import { sha256Hex } from '../../io/hash.js';
import { CONTENT_HASH_BYTES } from '../../dataset/file.js';
import {
  MAGIC,
  MAX_EPOCH_RAW_BYTES,
  MAX_PATH_BYTES,
  PATH_SEPARATOR,
  SHARD_MAGIC,
  classBytesFor,
  columnBytes,
  presentImages,
  type BlockRef,
  type EpochBlockRef,
  type EpochExpectation,
  type EpochRecords,
  type ImageBlock,
  type ImageExpectation,
  type ShardLayout,
} from './columns.js';

/**
 * The rules of the shard format, shared by the encoder (which refuses with E_USAGE) and
 * the decoder (which rejects with E_CORRUPT_SHARD), and the errors both raise.
 */

export type Fail = (message: string) => FkdError;

export const usage: Fail = (message) => new FkdError('E_USAGE', `Cannot encode shard: ${message}.`);

export function checkImageBlock(images: ImageBlock, fail: Fail): void {
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
  const hashes = images.contentHashes;
  if (hashes !== undefined) {
    if (!(hashes instanceof Uint8Array) || hashes.length !== imageCount * CONTENT_HASH_BYTES) {
      throw fail(`contentHashes is ${describe(hashes)}, not ${imageCount * CONTENT_HASH_BYTES} bytes (${CONTENT_HASH_BYTES} per image)`);
    }
    for (const index of skipped) {
      if (hashes.subarray(index * CONTENT_HASH_BYTES, (index + 1) * CONTENT_HASH_BYTES).some((byte) => byte !== 0)) {
        throw fail(`skipped image ${index} has a non-zero content hash (an image without records has none)`);
      }
    }
  }
}

/** Any of the rules below: NUL, backslash, lone surrogate, or an empty, "." or ".." segment (a leading "/" is an empty one). */
const PATH_TROUBLE = /[\0\\\p{Cs}]|(?:^|\/)\.{0,2}(?:\/|$)/u;

/**
 * What makes a path unfit to name a file under the dataset root, or undefined. The
 * dataset listing produces none of these (short of a POSIX file name holding a backslash);
 * rejecting them on decode keeps a forged shard from naming a file outside the root.
 */
export function pathProblem(path: unknown): string | undefined {
  // One scan for the common, valid path (every image of every shard read comes through here);
  // only a path it flags is looked at rule by rule, for the message.
  if (typeof path === 'string' && path.length <= MAX_PATH_BYTES / 3 && !PATH_TROUBLE.test(path)) return undefined;
  if (typeof path !== 'string') return 'is not a string';
  if (path === '') return 'is empty';
  if (path.length > MAX_PATH_BYTES / 3 && new TextEncoder().encode(path).length > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
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

export function checkEpochInput(
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

/** Up to this many classes (4 MiB of stamps) the duplicate-class check uses a stamp table. */
const MAX_STAMPED_CLASSES = 1 << 20;

/**
 * The stamp table, one per process and reused by every block: a class's entry holds the
 * stamp of the last record that named it. Stamps only grow, so no block clears the table;
 * it is cleared when they would pass 2^32.
 */
let stamps = new Uint32Array(0);
let lastStamp = 0;

/** The stamp before the first of `records` new ones, with a table of at least `numClasses`. */
function reserveStamps(numClasses: number, records: number): number {
  if (stamps.length < numClasses) {
    stamps = new Uint32Array(numClasses);
    lastStamp = 0;
  } else if (lastStamp + records > 0xffffffff) {
    stamps.fill(0);
    lastStamp = 0;
  }
  const first = lastStamp;
  lastStamp += records;
  return first;
}

/** Checks on decoded values that hold for any valid epoch; returns the first problem. */
export function checkRecordValues(records: EpochRecords, numClasses: number | undefined): string | undefined {
  const { count: n, topK: k, classes, codes } = records;
  // Read through the decode table, not a decoded copy: every block a reader opens passes here.
  const table = probabilityTable();
  const limit = numClasses ?? Infinity;
  // A class seen twice in a record: stamp each class with its record's stamp, O(k) per
  // record, not k² comparisons (half this check's time at top-5), in a table no block has to
  // allocate or clear. Without a known class count (or a huge one) the pairwise test stands in.
  const stamped = limit <= MAX_STAMPED_CLASSES;
  const first = stamped ? reserveStamps(limit, n) : 0;
  for (let i = 0, base = 0; i < n; i++, base += k) {
    if (!records.boxless && (records.height[i] === 0 || records.width[i] === 0)) return `record ${i}: an empty box`;
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const cls = classes[base + j] as number;
      if (cls >= limit) return `record ${i}: class ${cls} ≥ ${numClasses} classes`;
      if (stamped) {
        if (stamps[cls] === first + i + 1) return `record ${i}: class ${cls} twice`;
        stamps[cls] = first + i + 1;
      } else {
        for (let other = base; other < base + j; other++) {
          if (classes[other] === cls) return `record ${i}: class ${cls} twice`;
        }
      }
      sum += table[codes[base + j] as number] as number;
    }
    // Top-k probabilities of one distribution cannot sum above 1 (plus rounding).
    if (sum > MAX_TOPK_SUM) return `record ${i}: top-${k} probabilities summing to ${sum.toFixed(4)} > ${MAX_TOPK_SUM.toFixed(5)}`;
  }
  return undefined;
}

/** Every box must lie inside the image it belongs to. */
export function checkBoxes(records: EpochRecords, images: ImageBlock, present: Uint32Array): string | undefined {
  // A labels block has no boxes of its own: they come from the store it names, checked there.
  if (records.boxless) return undefined;
  for (let i = 0; i < records.count; i++) {
    const image = present[Math.floor(i / records.crops)] as number;
    const w = images.widths[image] as number;
    const h = images.heights[image] as number;
    const top = records.top[i] as number;
    const left = records.left[i] as number;
    if (top + (records.height[i] as number) > h || left + (records.width[i] as number) > w) {
      return `record ${i}: box (top ${top}, left ${left}, height ${records.height[i]}, width ${records.width[i]}) outside its ${w}×${h} image ${image}`;
    }
  }
  return undefined;
}

export function checkShardConsistency(images: ImageBlock, epochs: EpochRecords[], key: string): void {
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
    if (problem !== undefined) throw corrupt(key, `epoch ${e} ${problem}`);
  });
}

/**
 * The image block against what the manifest says about the shard: the same first image,
 * count, and skipped images with the same paths.
 */
export function checkImagesAgainst(images: ImageBlock, expected: ImageExpectation, key: string): void {
  const fail = (rule: string): FkdError => corrupt(key, `image block: ${rule}`);
  if (expected.imageStart !== undefined && images.imageStart !== expected.imageStart) {
    throw fail(`imageStart is ${images.imageStart} where the manifest says ${expected.imageStart} (a shard copied from another place?)`);
  }
  if (expected.imageCount !== undefined && images.imageCount !== expected.imageCount) {
    throw fail(`imageCount is ${images.imageCount} where the manifest says ${expected.imageCount}`);
  }
  if (expected.contentHashes !== undefined && (images.contentHashes !== undefined) !== expected.contentHashes) {
    throw fail(expected.contentHashes ? 'it has no content hashes, which format 2 requires (a format 1 shard in a format 2 store?)' : 'it has content hashes, which format 1 does not allow');
  }
  if (expected.skipped !== undefined) {
    const want = expected.skipped;
    const same = want.length === images.skipped.length && want.every((entry, i) => entry.local === images.skipped[i]);
    if (!same) {
      const show = (list: number[]): string => `[${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}]`;
      throw fail(`skipped is ${show(images.skipped)} where the manifest's dataset.skipped says ${show(want.map((entry) => entry.local))}`);
    }
    for (const entry of want) {
      const path = images.paths[entry.local];
      if (path !== entry.path) throw fail(`skipped image ${entry.local} is ${describe(path)} where the manifest says ${describe(entry.path)}`);
    }
  }
}

/** An epoch block against the manifest (epoch, records, crops, topK) and, when given, its image block (boxes). */
export function checkEpochAgainst(records: EpochRecords, expected: EpochExpectation, key: string): void {
  const at = `epoch ${records.epoch}`;
  if (expected.epoch !== undefined && records.epoch !== expected.epoch) {
    throw corrupt(key, `the block holds epoch ${records.epoch} where the manifest says epoch ${expected.epoch}`);
  }
  if (expected.records !== undefined && records.count !== expected.records) {
    throw corrupt(key, `${at} holds ${records.count} records where the manifest says ${expected.records}`);
  }
  if (expected.crops !== undefined && records.crops !== expected.crops) {
    throw corrupt(key, `${at} has ${records.crops} crops per image where the manifest's sampler.crops is ${expected.crops}`);
  }
  if (expected.topK !== undefined && records.topK !== expected.topK) {
    throw corrupt(key, `${at} has top-${records.topK} records where the manifest's codec.topK is ${expected.topK}`);
  }
  if (expected.boxless !== undefined && (records.boxless === true) !== expected.boxless) {
    throw corrupt(key, expected.boxless ? `${at} is an "epoch" block, but the manifest's boxesFrom says its blocks hold labels only` : `${at} is a "labels" block (no boxes), but the manifest names no boxesFrom store`);
  }
  if (expected.images !== undefined) {
    const present = presentImages(expected.images);
    if (records.count !== present.length * records.crops) {
      throw corrupt(key, `${at} has ${records.count} records, not ${present.length} images with records × ${records.crops} crops`);
    }
    const problem = checkBoxes(records, expected.images, present);
    if (problem !== undefined) throw corrupt(key, `${at} ${problem}`);
  }
}

export function compareLayouts(actual: ShardLayout, expected: ShardLayout, key: string): void {
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

export function checkBytes(bytes: unknown): void {
  if (!(bytes instanceof Uint8Array)) throw new FkdError('E_USAGE', 'Expected the shard bytes as a Uint8Array.');
}

export function startsWithMagic(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((byte, i) => bytes[i] === byte);
}

export function checkMagic(bytes: Uint8Array, key: string): void {
  checkBytes(bytes);
  if (!startsWithMagic(bytes)) {
    throw corrupt(key, `it does not start with the magic "${SHARD_MAGIC}" (not an fkd v1 shard, or damaged)`);
  }
}

export function sliceBlock(bytes: Uint8Array, ref: BlockRef, key: string, what: string): Uint8Array {
  if (!Number.isSafeInteger(ref.offset) || !Number.isSafeInteger(ref.length) || ref.offset < MAGIC.length || ref.length < 1) {
    throw new FkdError('E_USAGE', `Invalid block reference for the ${what} of ${key}: offset ${ref.offset}, length ${ref.length}.`);
  }
  if (ref.offset + ref.length > bytes.length) {
    throw corrupt(key, `the ${what} should end at byte ${ref.offset + ref.length} but the data ends at ${bytes.length} (truncated)`);
  }
  return bytes.subarray(ref.offset, ref.offset + ref.length);
}

export function verifySha(bytes: Uint8Array, expected: string, key: string, what: string): void {
  const actual = sha256Hex(bytes);
  if (actual !== expected) throw corrupt(key, `the ${what} hashes to ${actual} but the manifest says ${expected}`);
}

export function checkObject(value: unknown, keys: string[], key: string, what: string): Record<string, unknown> {
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

export function checkInteger(value: unknown, name: string, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw usage(`${name} is ${describe(value)}, not an integer in ${min}..${max}`);
  }
}

export function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

export function corrupt(key: string, detail: string, cause?: unknown): FkdError {
  return new FkdError(
    'E_CORRUPT_SHARD',
    `Shard ${key} is corrupt: ${detail}. Re-run the same \`fkd label\` command to regenerate it, or run \`fkd verify\` to check the whole store.`,
    { path: key, reason: detail, ...(cause === undefined ? {} : { cause }) },
  );
}

/** Whatever a hostile byte makes msgpackr, brotli or our checks throw becomes E_CORRUPT_SHARD. */
export function guard<T>(key: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof FkdError) throw error;
    throw corrupt(key, 'it could not be decoded', error);
  }
}

// ---------------------------------------------------------------------------------------
// The byte-level shape of a block

/** What a block field's MessagePack type must be. `int` never accepts a float; `uint53` accepts an integral float64 ≥ 2^32 (§4). */
export type FieldType = 'int' | 'uint53' | 'str' | 'bin' | 'int[]';

export const IMAGE_BLOCK_FIELDS: Record<string, FieldType> = {
  kind: 'str',
  imageStart: 'uint53',
  imageCount: 'int',
  sizeBytes: 'int',
  widths: 'bin',
  heights: 'bin',
  skipped: 'int[]',
  pathsBytes: 'int',
  paths: 'bin',
  contentHashes: 'bin',
};

export const EPOCH_BLOCK_FIELDS: Record<string, FieldType> = {
  kind: 'str',
  epoch: 'int',
  crops: 'int',
  topK: 'int',
  records: 'int',
  classBytes: 'int',
  encoding: 'str',
  payload: 'bin',
};

const keyDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Walks the MessagePack bytes of one block, `bytes[start, end)`, and checks what a decoded
 * value can no longer show: the top level is one map spanning exactly the block; its keys
 * are strings, each once (a decoder keeps only the last of a duplicate, so two readers
 * could see different values); integer fields are encoded as integers, not floats; and no
 * extension type appears anywhere. Types of unknown keys are left to the key check.
 */
export function checkBlockShape(bytes: Uint8Array, start: number, end: number, fields: Record<string, FieldType>, key: string, what: string): void {
  const fail = (rule: string): FkdError => corrupt(key, `the ${what} ${rule}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = start;
  const need = (n: number): void => {
    if (at + n > end) throw fail('ends inside a MessagePack value (truncated)');
  };
  const u8 = (): number => {
    need(1);
    return bytes[at++] as number;
  };
  const uint = (width: 1 | 2 | 4): number => {
    need(width);
    const value = width === 1 ? view.getUint8(at) : width === 2 ? view.getUint16(at) : view.getUint32(at);
    at += width;
    return value;
  };
  /** Skips one value; returns its type class. */
  const skip = (depth: number): 'int' | 'float' | 'str' | 'bin' | 'array' | 'map' | 'other' => {
    if (depth > 8) throw fail('nests MessagePack values too deeply');
    const tag = u8();
    if (tag <= 0x7f || tag >= 0xe0) return 'int';
    if (tag >= 0xa0 && tag <= 0xbf) return skipBytes(tag & 0x1f, 'str');
    if (tag >= 0x90 && tag <= 0x9f) return skipItems(tag & 0x0f, depth, 'array');
    if (tag >= 0x80 && tag <= 0x8f) return skipItems(2 * (tag & 0x0f), depth, 'map');
    switch (tag) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return 'other';
      case 0xcc:
      case 0xd0:
        return skipFixed(1, 'int');
      case 0xcd:
      case 0xd1:
        return skipFixed(2, 'int');
      case 0xce:
      case 0xd2:
        return skipFixed(4, 'int');
      case 0xcf:
      case 0xd3:
        return skipFixed(8, 'int');
      case 0xca:
        return skipFixed(4, 'float');
      case 0xcb:
        return skipFixed(8, 'float');
      case 0xd9:
        return skipBytes(uint(1), 'str');
      case 0xda:
        return skipBytes(uint(2), 'str');
      case 0xdb:
        return skipBytes(uint(4), 'str');
      case 0xc4:
        return skipBytes(uint(1), 'bin');
      case 0xc5:
        return skipBytes(uint(2), 'bin');
      case 0xc6:
        return skipBytes(uint(4), 'bin');
      case 0xdc:
        return skipItems(uint(2), depth, 'array');
      case 0xdd:
        return skipItems(uint(4), depth, 'array');
      case 0xde:
        return skipItems(2 * uint(2), depth, 'map');
      case 0xdf:
        return skipItems(2 * uint(4), depth, 'map');
      default:
        throw fail(`holds MessagePack type 0x${tag.toString(16)} (an extension type or a reserved byte); blocks use standard types only`);
    }
  };
  const skipFixed = <T extends string>(n: number, kind: T): T => {
    need(n);
    at += n;
    return kind;
  };
  const skipBytes = <T extends string>(n: number, kind: T): T => skipFixed(n, kind);
  const skipItems = <T extends string>(n: number, depth: number, kind: T): T => {
    // Every item takes at least one byte: a count beyond the block is corrupt, not a loop to run.
    if (n > end - at) throw fail('declares more MessagePack items than it has bytes');
    for (let i = 0; i < n; i++) skip(depth + 1);
    return kind;
  };

  const tag = u8();
  const count = tag >= 0x80 && tag <= 0x8f ? tag & 0x0f : tag === 0xde ? uint(2) : tag === 0xdf ? uint(4) : -1;
  if (count < 0) throw fail('is not a MessagePack map');
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const keyStart = at;
    if (skip(1) !== 'str') throw fail('has a key that is not a string');
    const header = (bytes[keyStart] as number) >= 0xa0 && (bytes[keyStart] as number) <= 0xbf ? 1 : bytes[keyStart] === 0xd9 ? 2 : bytes[keyStart] === 0xda ? 3 : 5;
    let name: string;
    try {
      name = keyDecoder.decode(bytes.subarray(keyStart + header, at));
    } catch {
      throw fail('has a key that is not valid UTF-8');
    }
    if (seen.has(name)) throw fail(`has the key ${JSON.stringify(name)} twice`);
    seen.add(name);
    const valueStart = at;
    const kind = skip(1);
    const want = fields[name];
    if (want === undefined) continue;
    if (want === 'int[]') {
      if (kind !== 'array') continue; // the value check names the wrong type
      checkIntArray(bytes, valueStart, fail);
    } else if (want === 'uint53' && kind === 'float') {
      const value = bytes[valueStart] === 0xcb ? view.getFloat64(valueStart + 1) : Number.NaN;
      if (!Number.isInteger(value) || value < 2 ** 32) throw fail(`field ${name} is a float where an integer is meant (only values ≥ 2^32 may be float64)`);
    } else if ((want === 'int' || want === 'uint53') && kind === 'float') {
      throw fail(`field ${name} is a float where an integer is meant`);
    }
  }
  if (at !== end) throw fail(`has ${end - at} bytes after its MessagePack map`);
}

function checkIntArray(bytes: Uint8Array, at: number, fail: (rule: string) => FkdError): void {
  const tag = bytes[at] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let count: number;
  let p: number;
  if (tag >= 0x90 && tag <= 0x9f) {
    count = tag & 0x0f;
    p = at + 1;
  } else if (tag === 0xdc) {
    count = view.getUint16(at + 1);
    p = at + 3;
  } else {
    count = view.getUint32(at + 1);
    p = at + 5;
  }
  // The walk above has already bounded every item; here only their tags matter.
  const widths: Record<number, number> = { 0xcc: 2, 0xcd: 3, 0xce: 5, 0xcf: 9, 0xd0: 2, 0xd1: 3, 0xd2: 5, 0xd3: 9 };
  for (let i = 0; i < count; i++) {
    const item = bytes[p] as number;
    if (item <= 0x7f || item >= 0xe0) p++;
    else if (widths[item] !== undefined) p += widths[item];
    else throw fail(`holds item ${i} of an integer list as MessagePack type 0x${item.toString(16)}, not an integer`);
  }
}
