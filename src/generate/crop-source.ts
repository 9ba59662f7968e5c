import type { CropSpec } from '../crop/box.js';
import { sampleCrop, type SamplerOptions } from '../crop/sampler.js';
import { FkdError } from '../errors.js';
import type { EpochRecords, ImageBlock } from '../store/format/columns.js';
import type { LabelSet } from '../store/labels.js';
import type { Manifest } from '../store/manifest.js';
import type { ShardPlan } from '../store/shards.js';
import { nameOf, type Naming } from '../options/schema.js';
import { LABEL_SCHEMA, type ResolvedLabelOptions } from './options.js';

/**
 * Where the label pass gets each crop's box: the sampler (a new store), or an existing
 * store's records (`--like`, to label exactly its crops with another teacher).
 */
export interface CropSource {
  forShard(shard: ShardPlan): Promise<ShardCrops>;
}

/** The crops of one shard. `local` is the image's index in the shard; `rank` counts its images with crops. */
export interface ShardCrops {
  /** Why image `local` has no crops before it is even read (it was skipped in the store it is like), or undefined. */
  skippedBefore(local: number): string | undefined;
  /** Called when image `local` turned out unreadable: a source that owes it crops refuses. */
  unreadable(local: number, path: string, reason: string): void;
  box(local: number, rank: number, image: { width: number; height: number }, epoch: number, crop: number): CropSpec;
}

/** Boxes from the counter-based sampler, keyed by (seed, dataset index, epoch, crop). */
export function sampledCrops(sampler: SamplerOptions): CropSource {
  return {
    forShard: (shard) =>
      Promise.resolve({
        skippedBefore: () => undefined,
        unreadable: () => undefined,
        box: (local, _rank, image, epoch, crop) => sampleCrop(image.width, image.height, sampler, shard.imageStart + local, epoch, crop),
      }),
  };
}

/**
 * The boxes and flips stored in `base`, record for record: the new store's crops are the
 * base's exactly, whatever sampler code either run had. Each image must decode to the size
 * it had when the base was labelled, and the base's skipped images are skipped again.
 */
export function cropsLike(base: LabelSet): CropSource {
  return {
    async forShard(shard) {
      const entry = base.manifest.shards.find((candidate) => candidate.index === shard.index);
      if (!entry || entry.imageStart !== shard.imageStart || entry.imageCount !== shard.imageCount) {
        throw new FkdError('E_DATASET_MISMATCH', `${base.location} has no shard ${shard.index} of images ${shard.imageStart}…${shard.imageStart + shard.imageCount - 1}; like needs a finished store of the same dataset.`, { path: base.location, option: 'like' });
      }
      const images: ImageBlock = await base.readImages(entry);
      const blocks: EpochRecords[] = await Promise.all(Array.from({ length: base.epochs }, (_, epoch) => base.readEpoch(entry, epoch)));
      const skipped = new Set(images.skipped);
      const reasons = new Map(base.manifest.dataset.skipped.map((s) => [s.index, s.reason]));
      const crops = base.crops;
      return {
        skippedBefore: (local) => (skipped.has(local) ? `skipped in ${base.location}, whose crops this store relabels (${reasons.get(shard.imageStart + local) ?? 'no reason recorded'})` : undefined),
        unreadable(local, path, reason) {
          throw new FkdError('E_DATASET_MISMATCH', `${path} was labelled in ${base.location} but cannot be read now (${reason}): like needs every image it has crops for. Restore the file.`, { path, option: 'like' });
        },
        box(local, rank, image, epoch, crop) {
          if (image.width !== images.widths[local] || image.height !== images.heights[local]) {
            throw new FkdError('E_DATASET_MISMATCH', `${images.paths[local]} decodes to ${image.width}×${image.height}, but was ${images.widths[local]}×${images.heights[local]} when ${base.location} was labelled: its boxes no longer fit it.`, { path: images.paths[local]! });
          }
          const block = blocks[epoch]!;
          const r = rank * crops + crop;
          return { top: block.top[r]!, left: block.left[r]!, height: block.height[r]!, width: block.width[r]!, flip: block.flip[r] === 1 };
        },
      };
    },
  };
}

/** What `--like` takes from the base store; giving any of them as well is refused unless equal. */
const CROP_SETTINGS = ['seed', 'scale', 'ratio', 'flip', 'epochs', 'crops', 'interpolation', 'maxPixels', 'shardImages'] as const;

/**
 * The label options with the base store's crop settings in place of the defaults. An option
 * the caller gave that the base says otherwise is an error naming both, not silently dropped.
 */
export function adoptCropSettings(resolved: ResolvedLabelOptions, given: { [K in (typeof CROP_SETTINGS)[number]]?: unknown }, base: Manifest, naming: Naming): ResolvedLabelOptions {
  const from: Record<(typeof CROP_SETTINGS)[number], unknown> = { ...base.sampler, shardImages: base.shardImages };
  for (const key of CROP_SETTINGS) {
    if (given[key] !== undefined && JSON.stringify(given[key]) !== JSON.stringify(from[key])) {
      throw new FkdError('E_USAGE', `${nameOf(LABEL_SCHEMA, key, naming)} ${JSON.stringify(given[key])} differs from the store given to ${nameOf(LABEL_SCHEMA, 'like', naming)} (${JSON.stringify(from[key])}), whose crops are labelled as they are: drop it.`);
    }
  }
  const { seed, scale, ratio, flip, epochs, crops, interpolation, maxPixels } = base.sampler;
  return { ...resolved, seed, scale, ratio, flip, epochs, crops, interpolation, maxPixels, shardImages: base.shardImages };
}
