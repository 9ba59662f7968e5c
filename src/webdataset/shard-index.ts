import { fingerprintOf } from '../dataset/scan.js';
import { CONTENT_HASH_BYTES } from '../dataset/file.js';
import { BLOCK } from '../dataset/tar/header.js';
import { IMAGE_MEMBER_EXTENSIONS } from '../dataset/tar/samples.js';
import { FkdError } from '../errors.js';
import { pathProblem } from '../store/format/validate.js';

/** The file `fkd pack` writes beside its shards, and where a shard set's reader looks for it. */
export const SHARD_INDEX_KEY = 'index.json';

export const SHARD_INDEX_FORMAT = 'fkd-webdataset-index';
export const SHARD_INDEX_VERSION = 1;

/**
 * Largest index read, in bytes. An index costs ~85–110 bytes per sample (~135 MB for ImageNet's
 * 1.28 M); the cap stays under V8's longest string (2^29 − 24 UTF-16 units), which the JSON text
 * must fit in.
 */
export const MAX_SHARD_INDEX_BYTES = 448 * 1024 * 1024;

/** Largest image member accepted (and packed), in bytes. ImageNet's largest JPEG is ~15 MB. */
export const MAX_IMAGE_MEMBER_BYTES = 256 * 1024 * 1024;

/**
 * One packed shard: its samples as columns, in order. Sample `i` is the tar members
 * `members[i]` (the image, at `offsets[i]`, `sizes[i]` bytes) and `<key>.cls`.
 */
export interface ShardIndexEntry {
  /** File name of the shard, beside the index. */
  name: string;
  bytes: number;
  /** SHA-256 of the whole shard, lower-case hex. */
  sha256: string;
  /** The image member's name per sample: `<key>.<extension>`. */
  members: string[];
  /** The ImageFolder path each sample was packed from: with the sizes, what the dataset fingerprint is made of. */
  paths: string[];
  classes: number[];
  /** Byte offset of each image member's data in the shard. */
  offsets: number[];
  sizes: number[];
  /** Content hash of each image (`contentHash`: the first 8 bytes of its SHA-256), hex. */
  hashes: string[];
}

/** What `fkd pack` writes as `index.json` (docs/FORMAT.md, "Shard index"). */
export interface ShardIndex {
  format: typeof SHARD_INDEX_FORMAT;
  version: typeof SHARD_INDEX_VERSION;
  /** Class names; a `cls` member holds an index into this list. */
  classes: string[];
  images: number;
  /** The ImageFolder scan's fingerprint of the same samples: classes, paths and sizes. */
  fingerprint: string;
  shards: ShardIndexEntry[];
}

const SHARD_NAME = /^[A-Za-z0-9._-]{1,200}\.tar$/;
const HEX64 = /^[0-9a-f]{64}$/;
const HASH = new RegExp(`^[0-9a-f]{${2 * CONTENT_HASH_BYTES}}$`);

/**
 * Parses and checks an index against its format, trusting nothing in it: every field's type and
 * range, every member inside its shard (block-aligned, in order, not overlapping), every path a
 * relative path inside its class folder, and the fingerprint recomputed from the paths and sizes.
 * Any break is `E_BAD_SHARD_SET` naming the index, the place in it and the rule.
 *
 * @example
 * const index = parseShardIndex(await store.get('index.json'), 's3://bucket/imagenet/index.json');
 */
export function parseShardIndex(bytes: Uint8Array, where: string): ShardIndex {
  const fail = (at: string, rule: string) => new FkdError('E_BAD_SHARD_SET', `${where}: ${at} ${rule}. Re-run fkd pack to rewrite the index.`, { path: where });
  if (bytes.length > MAX_SHARD_INDEX_BYTES) throw fail('the index', `is ${bytes.length} bytes, more than the limit of ${MAX_SHARD_INDEX_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw fail('the index', `is not UTF-8 JSON (${(error as Error).message})`);
  }
  const index = value as ShardIndex;
  if (!isObject(value) || index.format !== SHARD_INDEX_FORMAT) throw fail('format', `must be "${SHARD_INDEX_FORMAT}"`);
  const version: unknown = (value as { version?: unknown }).version;
  if (version !== SHARD_INDEX_VERSION) throw fail('version', `is ${JSON.stringify(version) ?? 'missing'}; this fkd reads version ${String(SHARD_INDEX_VERSION)}`);
  if (!Array.isArray(index.classes) || index.classes.length === 0 || index.classes.some((name) => typeof name !== 'string' || name === '' || name.includes('/') || pathProblem(name) !== undefined)) {
    throw fail('classes', 'must be a non-empty list of class folder names');
  }
  if (new Set(index.classes).size !== index.classes.length) throw fail('classes', 'must not repeat a name');
  if (!Array.isArray(index.shards) || index.shards.length === 0) throw fail('shards', 'must be a non-empty list');
  const names = new Set<string>();
  let images = 0;
  for (const [s, shard] of index.shards.entries()) {
    const at = `shards[${s}]`;
    if (!isObject(shard) || typeof shard.name !== 'string' || !SHARD_NAME.test(shard.name)) throw fail(`${at}.name`, 'must be a plain file name ending in .tar');
    if (names.has(shard.name)) throw fail(`${at}.name`, `repeats ${shard.name}`);
    names.add(shard.name);
    if (!isCount(shard.bytes)) throw fail(`${at}.bytes`, 'must be a whole number of bytes');
    if (typeof shard.sha256 !== 'string' || !HEX64.test(shard.sha256)) throw fail(`${at}.sha256`, 'must be 64 lower-case hex digits');
    const columns = ['members', 'paths', 'classes', 'offsets', 'sizes', 'hashes'] as const;
    for (const column of columns) if (!Array.isArray(shard[column])) throw fail(`${at}.${column}`, 'must be a list');
    const count = shard.members.length;
    if (count === 0) throw fail(`${at}.members`, 'must list at least one sample');
    for (const column of columns) if (shard[column].length !== count) throw fail(`${at}.${column}`, `must have one entry per sample (${count})`);
    let end = 0;
    for (let i = 0; i < count; i++) {
      const sample = `${at} sample ${i}`;
      const member = shard.members[i];
      const dot = typeof member === 'string' ? member.indexOf('.') : -1;
      if (typeof member !== 'string' || !/^[A-Za-z0-9_-]{1,64}\.[a-z]{2,5}$/.test(member) || !IMAGE_MEMBER_EXTENSIONS.has(member.slice(dot + 1))) {
        throw fail(`${sample} member`, 'must be <key>.<image extension> with a plain key');
      }
      const path = shard.paths[i];
      const problem = pathProblem(path);
      if (problem !== undefined) throw fail(`${sample} path`, `must be a relative path inside the class folder (it ${problem})`);
      const classIndex = shard.classes[i];
      if (!Number.isInteger(classIndex) || classIndex! < 0 || classIndex! >= index.classes.length) throw fail(`${sample} class`, `must be an integer in 0..${index.classes.length - 1}`);
      if (!(path as string).startsWith(`${index.classes[classIndex!]}/`)) throw fail(`${sample} path`, `must lie in its class folder ${index.classes[classIndex!]}/`);
      const offset = shard.offsets[i];
      const size = shard.sizes[i];
      if (!isCount(offset) || offset % BLOCK !== 0 || offset < end + BLOCK) throw fail(`${sample} offset`, 'must be block-aligned, after the previous member and its header');
      if (!isCount(size) || size > MAX_IMAGE_MEMBER_BYTES || offset + size > shard.bytes) throw fail(`${sample} size`, `must be at most ${MAX_IMAGE_MEMBER_BYTES} bytes and end inside the ${shard.bytes}-byte shard`);
      if (typeof shard.hashes[i] !== 'string' || !HASH.test(shard.hashes[i]!)) throw fail(`${sample} hash`, `must be ${2 * CONTENT_HASH_BYTES} lower-case hex digits`);
      end = offset + size;
    }
    images += count;
  }
  if (index.images !== images) throw fail('images', `is ${JSON.stringify(index.images)} but the shards list ${images} samples`);
  const fingerprint = fingerprintOf(index.classes, index.shards.flatMap((shard) => shard.paths.map((path, i) => ({ path, size: shard.sizes[i]!, classIndex: shard.classes[i]! }))));
  if (index.fingerprint !== fingerprint) throw fail('fingerprint', 'does not match the classes, paths and sizes the index lists');
  return index;
}

function isObject(value: unknown): value is Record<string, unknown> & object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
