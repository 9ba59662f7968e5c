import pLimit from 'p-limit';
import { FkdError } from '../errors.js';
import { assembleManifest } from './assemble.js';
import { CachedStore } from './drivers/cache.js';
import type { StoreDriver } from './drivers/driver.js';
import { openStore, type OpenStoreOptions } from './drivers/open.js';
import { decodeEpochBlock, decodeShard, decodeImageBlock, type EpochRecords, type ImageBlock } from './format.js';
import { sha256Hex } from './hash.js';
import { MANIFEST_KEY } from './layout.js';
import { parseManifest, type Manifest, type ShardEntry } from './manifest.js';

export interface OpenLabelsOptions extends OpenStoreOptions {
  /** Keep fetched label blocks on local disk (useful for object storage). */
  cacheDir?: string;
  /** Bound on the cache's size in bytes (default 10 GiB). */
  cacheBytes?: number;
  /** Open a store whose label run has not finished (no manifest yet), reading the shards that exist. */
  allowIncomplete?: boolean;
}

const RETAINED_EPOCHS = 2;
const PREFETCH_CONCURRENCY = 16;

/** Shares one in-flight or finished read per key; a failed read is forgotten so it can be retried. */
function remember<T>(cache: Map<string, Promise<T>>, key: string, read: () => Promise<T>): Promise<T> {
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

  constructor(
    readonly store: StoreDriver,
    readonly manifest: Manifest,
  ) {}

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
      const bytes = await this.readRange(shard.key, ref.offset, ref.length, ref.sha256);
      return decodeEpochBlock(bytes, { sha256: ref.sha256, key: `${this.location}/${shard.key}` });
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
      return decodeImageBlock(bytes, { sha256: ref.sha256, key: `${this.location}/${shard.key}` });
    });
  }

  /**
   * Reads a whole shard object, checks its size and sha256 against the manifest, then decodes
   * and checks every block from those same bytes (`decodeShard`). Nothing is cached, so
   * verifying a 1,282-shard store holds one shard at a time.
   */
  async verifyShard(shard: ShardEntry): Promise<void> {
    const name = `${this.location}/${shard.key}`;
    const bytes = await this.store.get(shard.key);
    if (bytes.byteLength !== shard.layout.bytes || sha256Hex(bytes) !== shard.layout.sha256) {
      throw new FkdError('E_CORRUPT_SHARD', `${name} does not match its checksum in the manifest (${bytes.byteLength} bytes, expected ${shard.layout.bytes}). The object was altered or damaged: regenerate it by re-running the label worker for that shard.`, { path: name });
    }
    decodeShard(bytes, shard.layout, { key: name, numClasses: this.numClasses });
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
  const { cacheDir, cacheBytes, allowIncomplete, ...storeOptions } = options;
  const base = await openStore(location, storeOptions);
  const store = cacheDir ? new CachedStore(base, { cacheDir, maxBytes: cacheBytes ?? 10 * 1024 ** 3 }) : base;
  if (await base.head(MANIFEST_KEY)) {
    return new LabelSet(store, parseManifest(new TextDecoder().decode(await base.get(MANIFEST_KEY)), base.location));
  }
  if (!allowIncomplete) {
    throw new FkdError('E_INCOMPLETE_STORE', `${base.location} has no manifest.json: its label run has not finished (or was never finalized). Finish it, run "fkd finalize ${location}", or open it with allowIncomplete to read the shards that exist.`, { path: base.location });
  }
  return new LabelSet(store, await assembleManifest(base, { allowMissing: true }));
}
