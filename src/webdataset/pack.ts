import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { hashHex, readImageFile } from '../dataset/file.js';
import { fingerprintOf, imagePath, scanDataset, type BadEntryPolicy } from '../dataset/scan.js';
import { BLOCK } from '../dataset/tar/header.js';
import { IMAGE_MEMBER_EXTENSIONS } from '../dataset/tar/samples.js';
import { TAR_END, tarHeader, tarPadding } from '../dataset/tar/write.js';
import { FkdError } from '../errors.js';
import type { Naming } from '../options/schema.js';
import { resolvePackOptions } from './options.js';
import { orderedWindow } from '../pipeline/ordered-window.js';
import { openStore, type OpenStoreOptions } from '../storage/open.js';
import { MAX_IMAGE_MEMBER_BYTES, SHARD_INDEX_FORMAT, SHARD_INDEX_KEY, SHARD_INDEX_VERSION, type ShardIndex, type ShardIndexEntry } from './shard-index.js';

export interface PackOptions {
  /** ImageFolder root: `<data>/<class>/<image>`. */
  data: string;
  /** Where the shards and `index.json` go: a directory or `s3://bucket/prefix`. */
  out: string;
  /** Target shard size in MiB (default 256): a shard closes before the sample that would take it past this. One shard is held in memory while it is written. */
  shardMiB?: number;
  /** Shard file names: `<prefix>-000000.tar`, … (default `shard`). */
  prefix?: string;
  /** As for the label pass: `skip` (default) passes over bad entries of the tree, `fail` stops at the first. */
  onBadEntry?: BadEntryPolicy;
  /** Images read ahead of the writer (default 16). */
  concurrency?: number;
  store?: OpenStoreOptions;
  signal?: AbortSignal;
  /** How refusals name options: `cli` says `--shard-mib`, `api` (default) `shardMiB`. */
  naming?: Naming;
  onProgress?: (progress: { imagesDone: number; imagesTotal: number; shardsDone: number }) => void;
}

export interface PackResult {
  location: string;
  images: number;
  shards: number;
  bytes: number;
  index: ShardIndex;
}

/** Digits in a sample key: the sample's position in the ImageFolder's order. */
const KEY_DIGITS = 9;

/**
 * Writes an ImageFolder as WebDataset tar shards: sample `i` of the folder's order (the same
 * scan, order and bad-entry rules as the label pass) becomes members `<i>.<ext>` (the image's
 * bytes, untouched) and `<i>.cls` (its class index), zero-padded to 9 digits. Every header field
 * but name and size is fixed, so the same folder always gives the same bytes. `index.json`,
 * written after every shard, lists per shard each sample's path, class, byte offset, size and
 * content hash, with the class names and the folder's fingerprint: a label store made from the
 * folder is then usable with the shards, and the reverse.
 *
 * @example
 * const { shards } = await pack({ data: 'train', out: 's3://bucket/imagenet-wds', shardMiB: 512 });
 */
export async function pack(options: PackOptions): Promise<PackResult> {
  const { shardMiB, prefix, onBadEntry, concurrency } = resolvePackOptions(options, options.naming ?? 'api');
  const shardBytes = Math.max(4 * BLOCK, Math.round(shardMiB * 2 ** 20));
  const dataset = await scanDataset(options.data, { onBadEntry });
  if (dataset.images.length >= 10 ** KEY_DIGITS) throw new FkdError('E_USAGE', `${dataset.root} has ${dataset.images.length} images; a pack holds fewer than ${10 ** KEY_DIGITS}.`);
  const store = await openStore(options.out, options.store);
  const shards: ShardIndexEntry[] = [];
  let parts: Uint8Array[] = [];
  let size = 0;
  let entry = emptyEntry(shardName(prefix, 0));
  let total = 0;
  const flush = async (): Promise<void> => {
    parts.push(TAR_END);
    size += TAR_END.length;
    const bytes = concat(parts, size);
    entry.bytes = size;
    entry.sha256 = createHash('sha256').update(bytes).digest('hex');
    await store.put(entry.name, bytes);
    shards.push(entry);
    total += size;
    parts = [];
    size = 0;
    entry = emptyEntry(shardName(prefix, shards.length));
  };
  const read = (index: number) => {
    const image = dataset.images[index]!;
    return readImageFile(imagePath(dataset, image), image.path);
  };
  let done = 0;
  for await (const { bytes, hash } of orderedWindow(dataset.images.length, concurrency, read, { signal: options.signal })) {
    const image = dataset.images[done]!;
    const extension = extname(image.path).slice(1).toLowerCase();
    if (!IMAGE_MEMBER_EXTENSIONS.has(extension)) throw new FkdError('E_USAGE', `${image.path}: a .${extension} image has no WebDataset member extension.`, { path: image.path });
    if (bytes.length > MAX_IMAGE_MEMBER_BYTES) throw new FkdError('E_IMAGE_TOO_LARGE', `${image.path}: ${bytes.length} bytes, more than a shard member may hold (${MAX_IMAGE_MEMBER_BYTES}).`, { path: image.path });
    const key = String(done).padStart(KEY_DIGITS, '0');
    const cls = new TextEncoder().encode(String(image.classIndex));
    const sampleBytes = BLOCK + bytes.length + tarPadding(bytes.length).length + BLOCK + BLOCK;
    if (entry.members.length > 0 && size + sampleBytes + TAR_END.length > shardBytes) await flush();
    const member = `${key}.${extension}`;
    entry.members.push(member);
    entry.paths.push(image.path);
    entry.classes.push(image.classIndex);
    entry.offsets.push(size + BLOCK);
    entry.sizes.push(bytes.length);
    entry.hashes.push(hashHex(hash));
    for (const part of [tarHeader(member, bytes.length), bytes, tarPadding(bytes.length), tarHeader(`${key}.cls`, cls.length), cls, tarPadding(cls.length)]) {
      parts.push(part);
      size += part.length;
    }
    done++;
    options.onProgress?.({ imagesDone: done, imagesTotal: dataset.images.length, shardsDone: shards.length });
  }
  await flush();
  const index: ShardIndex = {
    format: SHARD_INDEX_FORMAT,
    version: SHARD_INDEX_VERSION,
    classes: dataset.classes,
    images: dataset.images.length,
    // From the bytes written, not the scan's sizes: a file that changed in between is packed as it was read.
    fingerprint: fingerprintOf(dataset.classes, shards.flatMap((shard) => shard.paths.map((path, i) => ({ path, size: shard.sizes[i]!, classIndex: shard.classes[i]! })))),
    shards,
  };
  await store.put(SHARD_INDEX_KEY, new TextEncoder().encode(`${JSON.stringify(index)}\n`));
  return { location: store.location, images: dataset.images.length, shards: shards.length, bytes: total, index };
}

function shardName(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(6, '0')}.tar`;
}

function emptyEntry(name: string): ShardIndexEntry {
  return { name, bytes: 0, sha256: '', members: [], paths: [], classes: [], offsets: [], sizes: [], hashes: [] };
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
