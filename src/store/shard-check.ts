import { FkdError } from '../errors.js';
import type { StoreDriver } from '../storage/driver.js';
import type { DecodedShard, ImageExpectation, ShardCheckOptions } from './format/columns.js';
import { decodeShard } from './format/decode.js';
import type { Manifest, ShardEntry } from './manifest.js';

/**
 * What the manifest says about one shard, in the form the decoder cross-checks: its first
 * image, image count, skipped images (shard-local, with their paths) and, by its format
 * version, whether the image block holds content hashes.
 */
export function imageExpectation(manifest: Manifest, shard: ShardEntry): ImageExpectation {
  const skipped: Array<{ local: number; path: string }> = [];
  for (const entry of manifest.dataset.skipped) {
    if (entry.index >= shard.imageStart && entry.index < shard.imageStart + shard.imageCount) {
      skipped.push({ local: entry.index - shard.imageStart, path: entry.path });
    }
  }
  return { imageStart: shard.imageStart, imageCount: shard.imageCount, skipped, contentHashes: manifest.version >= 2 };
}

/** Everything the manifest says about a shard that its blocks must agree with. */
export function shardExpectation(manifest: Manifest, shard: ShardEntry, key: string): ShardCheckOptions {
  return { key, numClasses: manifest.dataset.classes.length, crops: manifest.sampler.crops, topK: manifest.codec.topK, boxless: manifest.boxesFrom !== undefined, ...imageExpectation(manifest, shard) };
}

/**
 * Reads a whole shard object and checks all of it: size (from `head`, before reading) and
 * sha256 against the manifest, every block's framing and hash, every rule of the format,
 * and every block against the manifest. Used by `fkd verify` and by `finalize`.
 */
export async function checkShardObject(store: StoreDriver, manifest: Manifest, shard: ShardEntry): Promise<DecodedShard> {
  const name = `${store.location}/${shard.key}`;
  const head = await store.head(shard.key);
  if (head === null) throw new FkdError('E_CORRUPT_SHARD', `${name} is missing (or not a regular file). Regenerate it by re-running the label worker for that shard.`, { path: name, reason: 'it is missing or not a regular file' });
  if (head.size !== shard.layout.bytes) {
    const reason = `it has ${head.size} bytes where the manifest says ${shard.layout.bytes}`;
    throw new FkdError('E_CORRUPT_SHARD', `${name} has ${head.size} bytes where the manifest says ${shard.layout.bytes}. The object was altered or damaged: regenerate it by re-running the label worker for that shard.`, { path: name, reason });
  }
  return decodeShard(await store.get(shard.key), shard.layout, shardExpectation(manifest, shard, name));
}
