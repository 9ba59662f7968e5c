import pLimit from 'p-limit';
import { FkdError, isFkdError } from '../errors.js';
import { clip } from '../io/hostile-text.js';
import { assembleManifest, noLabelRun } from './assemble.js';
import { CachedStore } from '../storage/cache.js';
import type { StoreDriver } from '../storage/driver.js';
import { openStore, type OpenStoreOptions } from '../storage/open.js';
import { classBytesFor, columnBytes, type DecodedShard, type EpochRecords, type ImageBlock } from './format/columns.js';
import { decodeEpochBlock, decodeImageBlock } from './format/decode.js';
import { CONFIG_KEY, MANIFEST_KEY } from './layout.js';
import { loadManifestFile, type Manifest, type ShardEntry } from './manifest.js';
import { checkShardObject, imageExpectation } from './shard-check.js';
import { boxesFromError, checkBoxesFromAllowed, checkSameImages, checkSameStructure, cropsDigest, resolveBoxesFrom, withBoxesOf } from './boxes-from.js';

export interface OpenLabelsOptions extends OpenStoreOptions {
  /** Keep fetched label blocks on local disk (useful for object storage). */
  cacheDir?: string;
  /** Bound on the cache's size in bytes (default 10 GiB). */
  cacheBytes?: number;
  /**
   * Open a store whose label run has not finished (no manifest yet, or one marked
   * `complete: false`), reading the shards that exist. The loader then trains on them too.
   */
  allowIncomplete?: boolean;
  /** Bound on the memory, in bytes, that label blocks being decoded may take at once (default 256 MiB). */
  decodeBytes?: number;
  /**
   * For a store made with `fkd label --like` (manifest `boxesFrom`): the store its boxes come
   * from, opened or as a location. Default: the location recorded in the manifest.
   */
  boxes?: string | LabelSet;
  /**
   * Location prefixes a `boxes-from` store's recorded base may lie under besides the default:
   * the store's own driver and, for object storage, its own bucket (docs/FORMAT.md §2.4).
   */
  boxesFromAllowed?: string[];
  /**
   * Pins the store: the SHA-256 (hex) of its `manifest.json`, as `fkd info` prints it. Any other
   * manifest is refused (E_PIN_MISMATCH) before it is parsed; the manifest pins every shard
   * and block by hash, so a pinned store reads exactly the bytes that were checked.
   */
  sha256?: string;
  /**
   * Read a format 1 store (no manifest integrity, no content hashes). Off by default, so a
   * manifest rewritten as format 1 to strip those checks is refused (E_FORMAT_1).
   */
  allowFormat1?: boolean;
}

export const RETAINED_EPOCHS = 2;
const PREFETCH_CONCURRENCY = 16;
const DEFAULT_DECODE_BYTES = 256 * 1024 * 1024;

/**
 * Waits until `cost` bytes fit in a budget. A cost larger than the whole budget runs alone,
 * so no single block is refused here (the decoder's own caps do that). This bounds memory,
 * not just the count of decodes: sixteen shards that each claim the 256 MiB cap decode
 * one after another, not side by side.
 */
class MemoryBudget {
  private used = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly capacity: number) {}

  async run<T>(cost: number, task: () => Promise<T>): Promise<T> {
    const take = Math.min(cost, this.capacity);
    while (this.used + take > this.capacity) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.used += take;
    try {
      return await task();
    } finally {
      this.used -= take;
      for (const wake of this.waiting.splice(0)) wake();
    }
  }
}

/** Shares one in-flight or finished read per key; a failed read is forgotten so it can be retried. */
export function remember<T>(cache: Map<string, Promise<T>>, key: string, read: () => Promise<T>): Promise<T> {
  let promise = cache.get(key);
  if (!promise) {
    promise = read();
    cache.set(key, promise);
    promise.catch(() => {
      if (cache.get(key) === promise) cache.delete(key);
    });
  }
  return promise;
}

/**
 * A soft-label set opened for reading: the manifest plus verified, ranged reads of label
 * epochs. Every block read is checked against the sha256 the manifest holds for it.
 */
export class LabelSet {
  private readonly imageBlocks = new Map<string, Promise<ImageBlock>>();
  private readonly epochBlocks = new Map<number, Map<string, Promise<EpochRecords>>>();
  private readonly budget: MemoryBudget;

  constructor(
    readonly store: StoreDriver,
    readonly manifest: Manifest,
    /** Whether the set was opened with `allowIncomplete`: only then may a loader train on an incomplete store. */
    readonly allowIncomplete = false,
    decodeBytes = DEFAULT_DECODE_BYTES,
    /** A `boxes-from` store's base, whose boxes and flips its records take. */
    readonly boxes?: LabelSet,
    /** SHA-256 of `manifest.json`'s bytes, the value `sha256` pins; undefined for a store without one (assembled from its shards). */
    readonly manifestSha256?: string,
  ) {
    this.budget = new MemoryBudget(decodeBytes);
  }

  get location(): string {
    return this.store.location;
  }

  get epochs(): number {
    return this.manifest.sampler.epochs;
  }

  get crops(): number {
    return this.manifest.sampler.crops;
  }

  get numClasses(): number {
    return this.manifest.dataset.classes.length;
  }

  /** One label epoch of one shard, fetched with a single ranged read and verified. */
  readEpoch(shard: ShardEntry, epoch: number): Promise<EpochRecords> {
    const ref = shard.layout.epochs[epoch];
    if (!ref) return Promise.reject(new FkdError('E_USAGE', `Label epoch ${epoch} does not exist: ${this.location} has ${this.epochs} label epochs.`));
    let blocks = this.epochBlocks.get(epoch);
    if (!blocks) {
      blocks = new Map();
      this.epochBlocks.set(epoch, blocks);
      // Decoded blocks of the current and the prefetched epoch stay; older ones go.
      while (this.epochBlocks.size > RETAINED_EPOCHS) this.epochBlocks.delete(this.epochBlocks.keys().next().value!);
    }
    return remember(blocks, shard.key, async () => {
      // Boxes are checked against their images, so the (cached) image block comes first.
      const images = await this.readImages(shard);
      const m = this.manifest;
      // What the block will take while it decodes: its bytes, the unpacked columns, the
      // decoded arrays (about the columns again) and the probabilities checked (4 B each).
      const columns = columnBytes(ref.records, m.codec.topK, classBytesFor(this.numClasses));
      const cost = ref.length + 2 * columns + 4 * ref.records * m.codec.topK;
      return this.budget.run(cost, async () => {
        const bytes = await this.readRange(shard.key, ref.offset, ref.length, ref.sha256);
        return decodeEpochBlock(bytes, {
          sha256: ref.sha256,
          key: `${this.location}/${shard.key}`,
          epoch,
          records: ref.records,
          numClasses: this.numClasses,
          crops: this.crops,
          topK: m.codec.topK,
          images,
          boxless: this.boxes !== undefined,
        });
      }).then(async (records) => {
        if (!this.boxes) return records;
        const base = this.boxes.manifest.shards.find((entry) => entry.index === shard.index)!;
        checkSameImages(await this.readImages(shard), await this.boxes.readImages(base), `${this.location}/${shard.key}`);
        return withBoxesOf(records, await this.boxes.readEpoch(base, epoch), `${this.location}/${shard.key}`);
      });
    });
  }

  /**
   * Starts fetching a label epoch's blocks in the background, so the next student epoch does
   * not wait for object storage. Failures surface when the epoch is read.
   */
  prefetchEpoch(epoch: number): void {
    if (epoch < 0 || epoch >= this.epochs || this.epochBlocks.has(epoch)) return;
    const limit = pLimit(PREFETCH_CONCURRENCY);
    for (const shard of this.manifest.shards) limit(() => this.readEpoch(shard, epoch)).catch(() => undefined);
  }

  /** The image block of a shard: decoded image sizes, paths and the images without records. Read once per shard. */
  readImages(shard: ShardEntry): Promise<ImageBlock> {
    const ref = shard.layout.images;
    return remember(this.imageBlocks, shard.key, async () => {
      const bytes = await this.readRange(shard.key, ref.offset, ref.length, ref.sha256);
      return decodeImageBlock(bytes, { sha256: ref.sha256, key: `${this.location}/${shard.key}`, ...imageExpectation(this.manifest, shard) });
    });
  }

  /**
   * Reads a whole shard object and checks all of it: size and sha256 against the manifest,
   * every block's framing and hash, every rule of the format, and every block against the
   * manifest (images, skipped list, epochs, crops, top-k, classes, boxes).
   */
  verifyShard(shard: ShardEntry): Promise<DecodedShard> {
    return checkShardObject(this.store, this.manifest, shard);
  }

  private readRange(key: string, offset: number, length: number, sha256: string): Promise<Uint8Array> {
    return this.store.getRange(key, offset, length, { sha256 });
  }
}

/**
 * Opens a label store for reading: a directory or `s3://bucket/prefix`.
 *
 * @example
 * const labels = await openLabels('s3://team-kd/in1k-effl2', { cacheDir: '/tmp/fkd-cache' });
 * console.log(labels.manifest.totals.records);
 */
export async function openLabels(location: string, options: OpenLabelsOptions = {}): Promise<LabelSet> {
  return openSet(location, options, null);
}

/** `openLabels`, or with `likeStore` the base of that boxes-from store, which may not be one itself (§2.4: no chains, no cycles). */
async function openSet(location: string, options: OpenLabelsOptions, likeStore: string | null): Promise<LabelSet> {
  const { cacheDir, cacheBytes, allowIncomplete, decodeBytes, boxes: _boxes, boxesFromAllowed: _allowed, sha256, allowFormat1, ...storeOptions } = options;
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(sha256)) throw new FkdError('E_USAGE', `Expected the SHA-256 of a manifest.json (64 hex digits, as fkd info prints it) for sha256 but received ${JSON.stringify(sha256).slice(0, 80)}.`);
  const base = await openStore(location, storeOptions);
  const store = cacheDir ? new CachedStore(base, { cacheDir, maxBytes: cacheBytes ?? 10 * 1024 ** 3 }) : base;
  if (await base.head(MANIFEST_KEY)) {
    const { manifest, sha256: digest } = await loadManifestFile(base, sha256 === undefined ? {} : { sha256 });
    if (manifest.version === 1 && !allowFormat1) {
      throw new FkdError('E_FORMAT_1', `${base.location} is a format 1 label store: its manifest has no integrity hash and its shards no content hashes, so an edited store (or a format 2 store rewritten as format 1) would pass. Label the dataset again to get format 2, or read it anyway with allowFormat1 (CLI --allow-format-1).`, { path: base.location });
    }
    if (!manifest.complete && !allowIncomplete) {
      throw new FkdError('E_INCOMPLETE_STORE', `${base.location}/${MANIFEST_KEY} is marked complete: false (it lists ${manifest.shards.length} of ${Math.ceil(manifest.dataset.images / manifest.shardImages)} shards). Finish the label run and run "fkd finalize ${location}", or open it with allowIncomplete to read the shards that exist.`, { path: base.location });
    }
    if (manifest.boxesFrom && likeStore !== null) {
      const cycle = resolveBoxesFrom(manifest.boxesFrom.store, base.location) === likeStore;
      throw boxesFromError(likeStore, cycle ? `its base ${base.location} takes its boxes from it in turn (a cycle)` : `its base ${base.location} is a boxes-from store too, and a base may not chain to another`);
    }
    const boxes = manifest.boxesFrom ? await openBoxesFrom(manifest, base.location, options) : undefined;
    return new LabelSet(store, manifest, allowIncomplete ?? false, decodeBytes, boxes, digest);
  }
  if (!(await base.head(CONFIG_KEY))) throw noLabelRun(base);
  if (sha256 !== undefined) throw new FkdError('E_PIN_MISMATCH', `${base.location} has no manifest.json to compare with the pinned SHA-256: its label run has not finished.`, { path: base.location });
  if (!allowIncomplete) {
    throw new FkdError('E_INCOMPLETE_STORE', `${base.location} has no manifest.json: its label run has not finished (or was never finalized). Finish it, run "fkd finalize ${location}", or open it with allowIncomplete to read the shards that exist.`, { path: base.location });
  }
  return new LabelSet(store, await assembleManifest(base, { allowMissing: true }), true, decodeBytes);
}

/**
 * The base of a `boxes-from` store (docs/FORMAT.md §2.4): the one given, or the recorded
 * location resolved against the store's own and kept inside the allow-list. It must be the
 * very store the labels were made on (the digest of its epoch blocks), not a boxes-from store
 * itself, and of the same structure, or the records would be paired with other crops. All of
 * it is checked here, before a record is served.
 */
async function openBoxesFrom(manifest: Manifest, location: string, options: OpenLabelsOptions): Promise<LabelSet> {
  const from = manifest.boxesFrom!;
  // The pin is the like-store's own; its manifest pins the base's blocks through boxesFrom.digest.
  const { boxes, boxesFromAllowed, allowIncomplete: _own, sha256: _pin, ...open } = options;
  let base: LabelSet;
  if (typeof boxes === 'object') {
    if (boxes.manifest.boxesFrom) throw boxesFromError(location, `the base given, ${boxes.location}, is a boxes-from store too, and a base may not chain to another`);
    base = boxes;
  } else {
    const recorded = boxes ?? resolveBoxesFrom(from.store, location);
    if (boxes === undefined) checkBoxesFromAllowed(recorded, location, boxesFromAllowed);
    if (recorded === location) throw boxesFromError(location, 'it names itself as its base (a cycle)');
    try {
      base = await openSet(recorded, open, location);
    } catch (error) {
      if (isFkdError(error, 'E_BOXES_FROM')) throw error;
      const code = isFkdError(error) ? error.code : 'E_IO';
      throw new FkdError(code, `${location} takes its boxes from ${clip(from.store)} (it was made with fkd label --like), which cannot be opened: ${(error as Error).message} If it moved, pass its new location: openLabels(location, { boxes }).`, { path: location, cause: error });
    }
  }
  if (cropsDigest(base.manifest) !== from.digest) {
    throw new FkdError('E_OPTIONS_MISMATCH', `${location} was labelled on the crops of a store whose blocks hash to ${from.digest.slice(0, 12)}…, but ${base.location} hashes to ${cropsDigest(base.manifest).slice(0, 12)}… (relabelled or replaced since): its records would be paired with other crops. Point it at the store it was made --like.`, { path: location });
  }
  checkSameStructure(manifest, base.manifest, location, base.location);
  return base;
}
