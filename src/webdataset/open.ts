import { scanDataset, type Dataset, type ScanOptions } from '../dataset/scan.js';
import type { OpenStoreOptions } from '../storage/open.js';
import { isShardSetSpec, openShardSet } from './shard-set.js';

export interface OpenDatasetOptions extends ScanOptions {
  /** S3 options for an `s3://` shard set. */
  store?: OpenStoreOptions | undefined;
}

/**
 * Opens what `--data` names: an ImageFolder tree (the default), or a WebDataset shard set
 * (`openShardSet`): an `s3://` location, a brace pattern or a `.tar` file, a text file listing
 * shards, or a folder holding `.tar` files and no class folders. Either way the result is a
 * `Dataset` with the same classes, order, paths, sizes and fingerprint, so a label store made
 * from one is usable with the other.
 *
 * @example
 * const dataset = await openDataset('/data/imagenet-wds/shard-{000000..000127}.tar');
 */
export async function openDataset(data: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  if (await isShardSetSpec(data)) return openShardSet(data, options.store);
  return scanDataset(data, options);
}
