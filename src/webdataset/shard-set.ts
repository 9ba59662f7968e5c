import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import pLimit from 'p-limit';
import { ExclusionLog } from '../dataset/exclusions.js';
import { fingerprintOf, type Dataset, type DatasetImage } from '../dataset/scan.js';
import type { ImageLocation, ImageSource } from '../dataset/source.js';
import { FkdError } from '../errors.js';
import type { StoreDriver } from '../storage/driver.js';
import { localPathOf, openStore, type OpenStoreOptions } from '../storage/open.js';
import { expandBraces } from './braces.js';
import { TarError } from '../dataset/tar/error.js';
import { tarSamples, type TarSample } from '../dataset/tar/samples.js';
import { windowedSource } from '../dataset/tar/window.js';
import { MAX_IMAGE_MEMBER_BYTES, MAX_SHARD_INDEX_BYTES, parseShardIndex, SHARD_INDEX_KEY, type ShardIndex, type ShardIndexEntry } from './shard-index.js';

/** Largest shard list file read: a million shard names fit well inside it. */
const MAX_LIST_BYTES = 64 * 1024 * 1024;

/** HEADs in flight while the shards are checked: enough to hide S3's latency. */
const HEAD_CONCURRENCY = 16;

/**
 * Whether `--data` names a shard set rather than an ImageFolder: an `s3://` (or other
 * non-file) URL, a brace pattern, a `.tar` file, a local file (a list of shards), or a local
 * folder with `index.json` or `.tar` files in it and no sub-folders.
 *
 * @example
 * await isShardSetSpec('train');                    // false: an ImageFolder
 * await isShardSetSpec('wds/shard-{000..009}.tar'); // true
 */
export async function isShardSetSpec(spec: string): Promise<boolean> {
  const local = localPathOf(spec);
  if (local === null || spec.includes('{') || spec.endsWith('.tar')) return true;
  const info = await stat(local).catch(() => null);
  if (info === null) return false;
  if (info.isFile()) return true;
  if (!info.isDirectory()) return false;
  const entries = await readdir(local, { withFileTypes: true }).catch(() => []);
  if (entries.some((entry) => entry.isDirectory())) return false;
  return entries.some((entry) => entry.name === SHARD_INDEX_KEY || entry.name.endsWith('.tar'));
}

/**
 * Opens a WebDataset shard set written by `fkd pack`, as a `Dataset` whose images are read
 * from their members by byte range (`Dataset.source`). The shard set is named by:
 * - a folder or `s3://bucket/prefix`: every shard its `index.json` lists;
 * - a brace pattern (`…/train-{000000..001023}.tar`) or one `.tar`: those shards;
 * - a text file listing shards, one a line (relative to the list's folder; `#` comments).
 * The shards of a set sit in one folder, beside the `index.json` that describes them. The
 * index is checked in full (`parseShardIndex`), and so is each shard's size, before any image is
 * read. The dataset's classes, paths, sizes and fingerprint are the packed folder's, so a label
 * store made from the folder is usable with the shards, and the reverse.
 *
 * @example
 * const dataset = await openShardSet('s3://bucket/imagenet-wds/shard-{000000..000127}.tar');
 */
export async function openShardSet(spec: string, storeOptions: OpenStoreOptions = {}): Promise<Dataset> {
  const { store, index, shards } = await loadShardSet(spec, storeOptions);
  const images: DatasetImage[] = [];
  for (const shard of shards) for (let i = 0; i < shard.paths.length; i++) images.push({ path: shard.paths[i]!, classIndex: shard.classes[i]!, size: shard.sizes[i]! });
  const byPath = new Map<string, [ShardIndexEntry, number]>();
  for (const shard of shards) shard.paths.forEach((path, i) => byPath.set(path, [shard, i]));
  if (byPath.size !== images.length) throw new FkdError('E_BAD_SHARD_SET', `${spec}: an image path appears in more than one sample of the shard set.`, { path: spec });
  return { root: spec, classes: index.classes, images, excluded: new ExclusionLog(), fingerprint: fingerprintOf(index.classes, images), source: new ShardSetSource(store, byPath) };
}

/** A shard set's store, its checked index, and the shards the spec selects, each checked to exist with its indexed size. */
async function loadShardSet(spec: string, storeOptions: OpenStoreOptions): Promise<{ store: StoreDriver; index: ShardIndex; shards: ShardIndexEntry[] }> {
  const { folder, names } = await selection(spec);
  const store = await openStore(folder, storeOptions);
  const index = await readIndex(store);
  const shards = pick(index, names, spec);
  await checkShardSizes(store, shards);
  return { store, index, shards };
}

/** Bytes read at a time while a shard's headers are walked. */
const WALK_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Walks every selected shard's tar headers with the strict reader (`tarSamples`, every rule of
 * docs/FORMAT.md §11.3) and compares what is there with the index: sample by sample, the image
 * member's name, offset and size, and the class. Reads each shard sequentially in 8 MiB
 * windows. The answer lists one problem per shard that breaks a rule or differs (the first
 * difference found); the image bytes themselves are checked by their content hashes elsewhere.
 *
 * @example
 * const { checked, problems } = await checkShardSet('s3://bucket/imagenet-wds');
 */
export async function checkShardSet(spec: string, storeOptions: OpenStoreOptions = {}): Promise<{ checked: number; problems: string[] }> {
  const { store, shards } = await loadShardSet(spec, storeOptions);
  const problems: string[] = [];
  for (const shard of shards) {
    const where = `${store.location}/${shard.name}`;
    const source = windowedSource(shard.bytes, (offset, length) => store.getRange(shard.name, offset, length), WALK_WINDOW_BYTES);
    try {
      const problem = await compareWithIndex(tarSamples(source, where, { maxMemberBytes: MAX_IMAGE_MEMBER_BYTES }), shard, where);
      if (problem !== undefined) problems.push(problem);
    } catch (error) {
      if (!(error instanceof TarError)) throw error;
      problems.push(error.message);
    }
  }
  return { checked: shards.length, problems };
}

/** The first way a shard's samples differ from its index entry, or undefined. */
async function compareWithIndex(samples: AsyncIterable<TarSample>, shard: ShardIndexEntry, where: string): Promise<string | undefined> {
  let i = 0;
  for await (const sample of samples) {
    const found = [sample.image.name, sample.image.offset, sample.image.size, sample.classIndex];
    const indexed = [shard.members[i], shard.offsets[i], shard.sizes[i], shard.classes[i]];
    if (found.some((value, field) => value !== indexed[field])) {
      return `${where}: sample ${i} is ${JSON.stringify(found)} (member, offset, size, class), its index.json says ${JSON.stringify(indexed ?? null)}.`;
    }
    i++;
  }
  return i === shard.members.length ? undefined : `${where} holds ${i} samples, its index.json lists ${shard.members.length}.`;
}

/** Reads each image as its shard member's byte range: from the local file where it is decoded, or fetched from the store here. */
class ShardSetSource implements ImageSource {
  private readonly localFolder: string | null;

  constructor(
    private readonly store: StoreDriver,
    private readonly byPath: ReadonlyMap<string, [ShardIndexEntry, number]>,
  ) {
    this.localFolder = localPathOf(store.location);
  }

  async locate(path: string, signal?: AbortSignal): Promise<ImageLocation> {
    const found = this.byPath.get(path);
    if (!found) throw new FkdError('E_DATASET_MISMATCH', `${path} is not in the shard set ${this.store.location}.`, { path });
    const [shard, i] = found;
    const member = { offset: shard.offsets[i]!, length: shard.sizes[i]!, hash: shard.hashes[i]! };
    if (this.localFolder !== null) {
      const file = join(this.localFolder, shard.name);
      return { shard: file, file, ...member };
    }
    signal?.throwIfAborted();
    return { shard: `${this.store.location}/${shard.name}`, bytes: await this.store.getRange(shard.name, member.offset, member.length), ...member };
  }
}

/** The folder the shards are in, and the shard names the spec selects (null: every shard of the index). */
async function selection(spec: string): Promise<{ folder: string; names: string[] | null }> {
  const local = localPathOf(spec);
  if (spec.includes('{') || spec.endsWith('.tar')) {
    const cut = spec.lastIndexOf('/');
    const folder = cut < 0 ? '.' : spec.slice(0, cut);
    if (folder.includes('{')) throw new FkdError('E_BAD_SHARD_SET', `The shard pattern "${spec}" has braces in its folder; the shards of a set sit in one folder.`, { path: spec });
    return { folder: folder === '' ? '/' : folder, names: expandBraces(spec.slice(cut + 1)) };
  }
  if (local !== null && (await stat(local).catch(() => null))?.isFile()) return listed(local);
  return { folder: spec, names: null };
}

/** The shards a list file names: one a line, blank lines and `#` comments ignored, all in one folder. */
async function listed(file: string): Promise<{ folder: string; names: string[] }> {
  const info = await stat(file);
  if (info.size > MAX_LIST_BYTES) throw new FkdError('E_BAD_SHARD_SET', `${file} is ${info.size} bytes, more than a shard list may be (${MAX_LIST_BYTES}).`, { path: file });
  const lines = (await readFile(file, 'utf8')).split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length === 0) throw new FkdError('E_BAD_SHARD_SET', `${file} lists no shards.`, { path: file });
  const base = dirname(resolve(file));
  const located = lines.map((line) => {
    const path = localPathOf(line) === null || isAbsolute(line) ? line : join(base, line);
    const cut = path.lastIndexOf('/');
    return { folder: path.slice(0, cut), name: path.slice(cut + 1) };
  });
  const folder = located[0]!.folder;
  const stray = located.find((entry) => entry.folder !== folder);
  if (stray) throw new FkdError('E_BAD_SHARD_SET', `${file} lists shards in ${folder} and in ${stray.folder}; the shards of a set sit in one folder, beside its index.json.`, { path: file });
  return { folder, names: located.map((entry) => entry.name) };
}

async function readIndex(store: StoreDriver): Promise<ShardIndex> {
  const where = `${store.location}/${SHARD_INDEX_KEY}`;
  const head = await store.head(SHARD_INDEX_KEY);
  if (head === null) {
    throw new FkdError('E_BAD_SHARD_SET', `${where} does not exist. fkd reads shard sets written by fkd pack, which puts an index.json beside the shards; pack the ImageFolder with fkd pack.`, { path: where });
  }
  if (head.size > MAX_SHARD_INDEX_BYTES) throw new FkdError('E_BAD_SHARD_SET', `${where} is ${head.size} bytes, more than the limit of ${MAX_SHARD_INDEX_BYTES}.`, { path: where });
  return parseShardIndex(await store.get(SHARD_INDEX_KEY), where);
}

/** The index's shards the spec names, in the spec's order. */
function pick(index: ShardIndex, names: string[] | null, spec: string): ShardIndexEntry[] {
  if (names === null) return index.shards;
  const byName = new Map(index.shards.map((shard) => [shard.name, shard]));
  const seen = new Set<string>();
  return names.map((name) => {
    const shard = byName.get(name);
    if (!shard) throw new FkdError('E_BAD_SHARD_SET', `${spec} names ${name}, which its folder's index.json does not list.`, { path: spec });
    if (seen.has(name)) throw new FkdError('E_BAD_SHARD_SET', `${spec} names ${name} twice.`, { path: spec });
    seen.add(name);
    return shard;
  });
}

/** Every shard is there and has the size its index gives, before any image is read: a truncated upload fails now, not mid-epoch. */
async function checkShardSizes(store: StoreDriver, shards: ShardIndexEntry[]): Promise<void> {
  const limit = pLimit(HEAD_CONCURRENCY);
  await Promise.all(
    shards.map((shard) =>
      limit(async () => {
        const head = await store.head(shard.name);
        const where = `${store.location}/${shard.name}`;
        if (head === null) throw new FkdError('E_BAD_SHARD_SET', `${where} is missing; its index.json lists it.`, { path: where });
        if (head.size !== shard.bytes) throw new FkdError('E_BAD_SHARD_SET', `${where} is ${head.size} bytes, but its index.json says ${shard.bytes}: the shard is truncated or was replaced. Pack or upload it again.`, { path: where });
      }),
    ),
  );
}
