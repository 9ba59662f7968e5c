import { FkdError } from '../errors.js';
import type { EpochRecords } from './format/columns.js';
import { sha256Hex } from '../io/hash.js';
import type { Manifest } from './manifest.js';

/**
 * The identity of a store's crops as a `boxes-from` store records it: the SHA-256 of the
 * UTF-8 text listing every epoch block's `sha256`, shard by shard in manifest order, epoch by
 * epoch, one per line (docs/FORMAT.md §2.4). Any change to the base's blocks changes it.
 *
 * @example
 * const digest = cropsDigest(base.manifest); // recorded as boxesFrom.digest by fkd label --like
 */
export function cropsDigest(manifest: Manifest): string {
  const lines = manifest.shards.flatMap((shard) => shard.layout.epochs.map((ref) => `${ref.sha256}\n`));
  return sha256Hex(new TextEncoder().encode(lines.join('')));
}

/**
 * A `labels` block's records with the boxes and flips of the base store's block of the same
 * shard and epoch: record r of one is record r of the other.
 */
export function withBoxesOf(records: EpochRecords, base: EpochRecords, key: string): EpochRecords {
  if (base.count !== records.count || base.crops !== records.crops) {
    throw new FkdError('E_CORRUPT_SHARD', `${key} epoch ${records.epoch} holds ${records.count} records of ${records.crops} crops, its boxes store ${base.count} of ${base.crops}.`, { path: key });
  }
  const { boxless: _filled, ...rest } = records;
  return { ...rest, top: base.top, left: base.left, height: base.height, width: base.width, flip: base.flip };
}
