import type { StoreDriver } from '../../storage/driver.js';
import { checkConfig, claimConfig, type LabelConfig } from '../config.js';
import { configSha256, readShardEntry, type ShardEntryFile } from '../entry.js';
import type { ShardLayout } from '../format/columns.js';
import { shardEntryKey, shardKey } from '../layout.js';
import type { Manifest, ManifestScan, SkippedImage } from '../manifest.js';
import { writeScanRecord } from '../scan-record.js';
import type { ShardPlan, Slice } from '../shards.js';
import { finalizeStore, type FinalizeOptions } from './finalize.js';

export interface LabelStoreWriterOptions {
  /** The worker slice this writer makes shards for, recorded in each entry so `finalize` can name the slices that owe shards. Default: the whole job. */
  slice?: Slice;
  /** What made the labels, recorded in each entry, e.g. `onnx/cpu`. */
  backend: string;
  /** What the dataset scan passed over (`scan.json`); every worker writes the same. */
  scan?: ManifestScan;
}

/** One encoded shard, ready to commit. */
export interface ShardCommit {
  shard: ShardPlan;
  /** The shard object's bytes, as `encodeShard` framed them. */
  bytes: Uint8Array;
  layout: ShardLayout;
  /** Records in the shard, over all its epochs. */
  records: number;
  skipped: SkippedImage[];
}

/**
 * The one writer of a label store. Its protocol: `claim` the store for the run's settings
 * (`config.json`, exclusive), ask which shards are already `finished` (the resume plan), `commit`
 * each new shard (the shard object, then its entry: an entry always names a complete object),
 * then `finalize` (the manifest, written last, once every shard exists). The run files
 * (`config.json`, `scan.json`, the shard entries) are written here and nowhere else.
 *
 * @example
 * const writer = await LabelStoreWriter.claim(await openStore('labels'), config, { backend: 'onnx/cpu' });
 * for (const shard of planShards(images, config.shardImages)) {
 *   if (!(await writer.finished(shard))) await writer.commit({ shard, ...encodeMyShard(shard) });
 * }
 * await writer.finalize();
 */
export class LabelStoreWriter {
  private readonly configHash: string;

  private constructor(
    readonly store: StoreDriver,
    readonly config: LabelConfig,
    private readonly slice: Slice,
    private readonly backend: string,
  ) {
    this.configHash = configSha256(config);
  }

  /**
   * Checks the settings as the manifest will (a store that could never be finalized is refused
   * before a byte is written), claims the store for them, and records the scan. A run with other
   * settings on the same store fails with `E_OPTIONS_MISMATCH`.
   */
  static async claim(store: StoreDriver, config: LabelConfig, options: LabelStoreWriterOptions): Promise<LabelStoreWriter> {
    checkConfig(config);
    await claimConfig(store, config);
    if (options.scan) await writeScanRecord(store, options.scan);
    return new LabelStoreWriter(store, config, options.slice ?? { index: 0, count: 1 }, options.backend);
  }

  /** Where the store lives, for messages. */
  get location(): string {
    return this.store.location;
  }

  /**
   * The resume plan for one shard: its entry when it is already finished and intact under these
   * settings, else null (a shard whose bytes no longer match its entry is made again).
   */
  finished(shard: ShardPlan): Promise<ShardEntryFile | null> {
    return readShardEntry(this.store, shard, this.config);
  }

  /** Writes the shard object, then its entry, which marks it finished. Returns the entry. */
  async commit(commit: ShardCommit): Promise<ShardEntryFile> {
    const { shard } = commit;
    const key = shardKey(shard.index);
    const entry: ShardEntryFile = {
      configSha256: this.configHash,
      backend: this.backend,
      slice: this.slice,
      shard: { index: shard.index, key, imageStart: shard.imageStart, imageCount: shard.imageCount, records: commit.records, layout: commit.layout },
      skipped: commit.skipped,
    };
    await this.store.put(key, commit.bytes);
    await this.store.put(shardEntryKey(shard.index), new TextEncoder().encode(`${JSON.stringify(entry, null, 2)}\n`));
    return entry;
  }

  /** Writes `manifest.json`, last, once every shard of every slice exists; see `finalizeStore`. */
  finalize(options: FinalizeOptions = {}): Promise<Manifest> {
    return finalizeStore(this.store, options);
  }
}
