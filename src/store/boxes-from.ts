import { posix, resolve as resolvePath, sep } from 'node:path';
import { FkdError } from '../errors.js';
import { clip } from '../io/hostile-text.js';
import { localPathOf } from '../storage/open.js';
import type { EpochRecords, ImageBlock } from './format/columns.js';
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

/**
 * Where a `boxesFrom.store` value points, read the way docs/FORMAT.md §2.4 says: a location
 * with a scheme stands as written; any other is a path relative to the store's own location
 * (an absolute path only for a local store), never to the reader's working directory. In an
 * object store a relative path stays in the store's bucket: `..` past the bucket is refused.
 *
 * @example
 * resolveBoxesFrom('../base', '/data/labels/like');         // '/data/labels/base'
 * resolveBoxesFrom('../base', 's3://team/labels/like');      // 's3://team/labels/base'
 */
export function resolveBoxesFrom(recorded: string, location: string): string {
  if (schemeOf(recorded) !== undefined) return recorded;
  const local = localPathOf(location);
  if (local !== null) return resolvePath(local, recorded);
  if (posix.isAbsolute(recorded)) throw boxesFromError(location, `boxesFrom.store ${quote(recorded)} is a local path, but the store is not local`);
  const { scheme, bucket, prefix } = splitUrl(location);
  const joined = posix.normalize(posix.join(prefix, recorded)).replace(/\/$/, '');
  if (joined === '..' || joined.startsWith('../')) throw boxesFromError(location, `boxesFrom.store ${quote(recorded)} leaves the bucket ${bucket}`);
  return joined === '.' ? `${scheme}://${bucket}` : `${scheme}://${bucket}/${joined}`;
}

/**
 * Whether a reader may follow a `boxes-from` store to its base without being told to (§2.4):
 * by default only within the same driver, and for a URL store the same bucket, so a hostile
 * manifest cannot send a reader to another bucket, endpoint or the local disk. `allowed`
 * names further location prefixes (`OpenLabelsOptions.boxesFromAllowed`).
 */
export function checkBoxesFromAllowed(base: string, location: string, allowed: readonly string[] = []): void {
  const same = (() => {
    const [mine, theirs] = [localPathOf(location), localPathOf(base)];
    if (mine !== null || theirs !== null) return mine !== null && theirs !== null;
    const [a, b] = [splitUrl(location), splitUrl(base)];
    return a.scheme === b.scheme && a.bucket === b.bucket;
  })();
  if (same || allowed.some((prefix) => within(base, prefix))) return;
  throw boxesFromError(location, `its base ${quote(base)} is outside the store's driver and bucket, which a reader follows only when told to. If you trust it, pass boxesFromAllowed: [${quote(base)}], or give the base itself as boxes`);
}

/**
 * A like-store's structure must be its base's (§2.4): the same dataset, label epochs, crops,
 * shards, skipped images and record counts, or its records would be paired with the boxes of
 * other images. Checked when the store is opened, before any record is served.
 */
export function checkSameStructure(like: Manifest, base: Manifest, location: string, baseLocation: string): void {
  const differences: string[] = [];
  const compare = (what: string, mine: unknown, theirs: unknown) => {
    if (differences.length < 5 && JSON.stringify(mine) !== JSON.stringify(theirs)) differences.push(`${what}: ${clip(JSON.stringify(mine))} here, ${clip(JSON.stringify(theirs))} in the base`);
  };
  compare('sampler.epochs', like.sampler.epochs, base.sampler.epochs);
  compare('sampler.crops', like.sampler.crops, base.sampler.crops);
  compare('dataset.images', like.dataset.images, base.dataset.images);
  compare('dataset.fingerprint', like.dataset.fingerprint, base.dataset.fingerprint);
  compare('skipped images', like.dataset.skipped.map((s) => s.index), base.dataset.skipped.map((s) => s.index));
  compare('shardImages', like.shardImages, base.shardImages);
  compare('shards', like.shards.length, base.shards.length);
  like.shards.forEach((shard, at) => {
    const other = base.shards[at];
    const shape = (entry: typeof shard | undefined) => entry && { index: entry.index, imageStart: entry.imageStart, imageCount: entry.imageCount, records: entry.layout.epochs.map((e) => e.records) };
    compare(`shard ${shard.index}`, shape(shard), shape(other));
  });
  if (differences.length > 0) throw boxesFromError(location, `its structure differs from its base ${quote(baseLocation)}'s (${differences.join('; ')}), so its records cannot take that store's boxes`);
}

/** A like-store's shard images must be its base's, image for image (§2.4). */
export function checkSameImages(images: ImageBlock, base: ImageBlock, key: string): void {
  const same = images.imageStart === base.imageStart && images.paths.length === base.paths.length && images.paths.every((path, i) => path === base.paths[i] && images.widths[i] === base.widths[i] && images.heights[i] === base.heights[i]);
  if (!same) throw new FkdError('E_BOXES_FROM', `${clip(key)}: its image block lists other images (paths or sizes) than its base's shard, so its records cannot take that shard's boxes (docs/FORMAT.md §2.4).`, { path: key });
}

export function boxesFromError(location: string, problem: string): FkdError {
  return new FkdError('E_BOXES_FROM', `${clip(location)} is a boxes-from store (fkd label --like), but ${problem} (docs/FORMAT.md §2.4).`, { path: location });
}

function within(location: string, prefix: string): boolean {
  const [a, b] = [localPathOf(location), localPathOf(prefix)];
  if (a !== null && b !== null) {
    const root = resolvePath(b);
    const path = resolvePath(a);
    return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
  }
  if (a !== null || b !== null) return false;
  const trimmed = prefix.replace(/\/+$/, '');
  return location === trimmed || location.startsWith(`${trimmed}/`);
}

function splitUrl(location: string): { scheme: string; bucket: string; prefix: string } {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)\/?(.*)$/i.exec(location)!;
  return { scheme: match[1]!.toLowerCase(), bucket: match[2]!, prefix: match[3]! };
}

function schemeOf(location: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1];
}

const quote = (text: string) => JSON.stringify(clip(text));
