import pLimit from 'p-limit';
import type { CropSpec } from '../crop/box.js';
import type { Dataset } from '../dataset/scan.js';
import { datasetDifference } from '../store/dataset-check.js';
import { FkdError, isFkdError } from '../errors.js';
import { CONTENT_HASH_BYTES, hashHex } from '../dataset/file.js';
import type { LabelledImage } from '../dataset/labelled.js';
import type { EpochRecords, ImageBlock } from '../store/format/columns.js';
import type { LabelSet } from '../store/labels.js';
import { epochOrder } from './order.js';

/** Images and shards a pass left out, with why. */
export interface Skipped {
  skippedImages: Array<{ path: string; reason: string }>;
  skippedShards: Array<{ key: string; reason: string }>;
}

/**
 * The plan stage's output: which images one rank visits in one student epoch, in order, and
 * where each one's records are. Bookkeeping is columnar: one typed-array entry per image
 * (about 16 bytes) instead of one object, so a 1.28 M-image epoch costs ~20 MB and no GC work.
 * Rows are sorted by store index; `order` lists the rows this rank visits.
 */
export interface EpochPlan {
  labelEpoch: number;
  /** Records per image in the label epoch. */
  crops: number;
  /** Rows in visiting order for this rank. */
  order: Uint32Array;
  /** Per row: the image's index in the store (sorted dataset order). */
  imageIndex: Uint32Array;
  /** Per row: the class index of the image's folder. */
  classIndex: Uint32Array;
  /** Per row: the shard the image is in, as an index into `blocks` and `paths`. */
  shard: Uint32Array;
  /** Per row: the image's position in its shard's image block (skipped images included). */
  local: Uint32Array;
  /** Per row: the image's first record in its shard's label epoch block. */
  first: Uint32Array;
  /** Per shard (manifest order): the label epoch's records; empty for a skipped shard. */
  blocks: EpochRecords[];
  /** Per shard: its image block (paths, sizes, content hashes), indexed by `local`; empty for a skipped shard. */
  images: ImageBlock[];
}

export interface PlanOptions {
  labels: LabelSet;
  dataset: Dataset;
  /** Student epoch; the label epoch is `epoch mod labels.epochs`. */
  epoch: number;
  /** Shuffle seed, or null to keep store order. */
  seed: number | null;
  rank: number;
  worldSize: number;
  skip: boolean;
  skipped: Skipped;
  signal?: AbortSignal | undefined;
}

/**
 * Reads one label epoch of every shard and plans the epoch: checks the dataset is the one
 * labelled (or, with `skip`, matches images by path), then shuffles and splits by rank.
 *
 * @example
 * const plan = await planEpoch({ labels, dataset, epoch: 0, seed: 0, rank: 0, worldSize: 1, skip: false, skipped });
 */
export async function planEpoch(options: PlanOptions): Promise<EpochPlan> {
  const { labels, dataset, skip, skipped } = options;
  const pathsMatch = checkDataset(dataset, labels, skip);
  const labelEpoch = options.epoch % labels.epochs;
  const crops = labels.crops;
  const shards = labels.manifest.shards;
  const byPath = pathsMatch ? null : new Map(dataset.images.map((image, index) => [image.path, index]));
  const blocks = new Array<EpochRecords>(shards.length);
  // Sparse: a shard skipped under `skip` stays a hole (iterate with forEach, which skips holes).
  const imageBlocks = new Array<ImageBlock>(shards.length);
  /** Per shard: [storeIndex, classIndex, local, first] columns of the images kept. */
  const kept = new Array<{ count: number; columns: Uint32Array[] }>(shards.length);
  // Class indices are the store's: a tree that gained or lost a class folder since labelling
  // must not shift them. A stored path starts with its class folder.
  const storeClass = new Map(labels.manifest.dataset.classes.map((name, index) => [name, index]));
  const limit = pLimit(16);
  await Promise.all(
    shards.map((shard, position) =>
      limit(async () => {
        options.signal?.throwIfAborted();
        kept[position] = { count: 0, columns: [] };
        let images;
        let block;
        try {
          images = await labels.readImages(shard);
          block = await labels.readEpoch(shard, labelEpoch);
        } catch (error) {
          if (!skip || !isFkdError(error)) throw error;
          skipped.skippedShards.push({ key: shard.key, reason: error.message });
          return;
        }
        blocks[position] = block;
        imageBlocks[position] = images;
        const columns = Array.from({ length: 4 }, () => new Uint32Array(images.imageCount));
        const [storeIndex, classIndex, local, first] = columns as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
        const skippedLocal = new Set(images.skipped);
        let present = 0;
        let count = 0;
        for (let i = 0; i < images.imageCount; i++) {
          if (skippedLocal.has(i)) continue;
          const record = present * crops;
          present++;
          const stored = images.imageStart + i;
          const path = images.paths[i]!;
          const datasetIndex = byPath ? byPath.get(path) : stored;
          const image = datasetIndex === undefined ? undefined : dataset.images[datasetIndex];
          if (!image || image.path !== path) {
            if (!skip) throw new FkdError('E_DATASET_MISMATCH', `${path} is in the labels but not in ${dataset.root}.`, { path });
            skipped.skippedImages.push({ path, reason: 'missing from the dataset' });
            continue;
          }
          const storedClass = pathsMatch ? image.classIndex : storeClass.get(path.slice(0, path.indexOf('/')));
          if (storedClass === undefined) throw new FkdError('E_CORRUPT_SHARD', `${shard.key} lists ${path}, whose class folder is not among the store's classes.`, { path: shard.key });
          storeIndex[count] = stored;
          classIndex[count] = storedClass;
          local[count] = i;
          first[count] = record;
          count++;
        }
        kept[position] = { count, columns };
      }),
    ),
  );

  const total = kept.reduce((sum, entry) => sum + entry.count, 0);
  const plan: EpochPlan = {
    labelEpoch,
    crops,
    order: new Uint32Array(0),
    imageIndex: new Uint32Array(total),
    classIndex: new Uint32Array(total),
    shard: new Uint32Array(total),
    local: new Uint32Array(total),
    first: new Uint32Array(total),
    blocks,
    images: imageBlocks,
  };
  // Rows in store order: shards by their first image, each already ascending inside.
  const shardOrder = shards.map((shard, position) => ({ position, start: shard.imageStart })).sort((a, b) => a.start - b.start);
  let row = 0;
  for (const { position } of shardOrder) {
    const { count, columns } = kept[position]!;
    if (count === 0) continue;
    plan.imageIndex.set(columns[0]!.subarray(0, count), row);
    plan.classIndex.set(columns[1]!.subarray(0, count), row);
    plan.local.set(columns[2]!.subarray(0, count), row);
    plan.first.set(columns[3]!.subarray(0, count), row);
    plan.shard.fill(position, row, row + count);
    row += count;
  }
  for (let r = 1; r < total; r++) {
    if (plan.imageIndex[r]! <= plan.imageIndex[r - 1]!) throw new FkdError('E_CORRUPT_MANIFEST', `The shards of ${labels.location} overlap: image ${plan.imageIndex[r]} is claimed twice.`);
  }
  plan.order = epochOrder(identity(total), { seed: options.seed, epoch: options.epoch, rank: options.rank, worldSize: options.worldSize });
  return plan;
}

function identity(count: number): Uint32Array {
  const rows = new Uint32Array(count);
  for (let i = 0; i < count; i++) rows[i] = i;
  return rows;
}

/** The largest width and height among the plan's images (zero for none): what a render region must hold. */
export function largestImage(plan: EpochPlan): [width: number, height: number] {
  let width = 0;
  let height = 0;
  // forEach, not for…of: a shard skipped under onError 'skip' leaves a hole in plan.images.
  plan.images.forEach((block) => {
    for (let i = 0; i < block.widths.length; i++) width = Math.max(width, block.widths[i]!);
    for (let i = 0; i < block.heights.length; i++) height = Math.max(height, block.heights[i]!);
  });
  return [width, height];
}

/** The stored relative path of a plan row. */
export function rowPath(plan: EpochPlan, row: number): string {
  return plan.images[plan.shard[row]!]!.paths[plan.local[row]!]!;
}

/** The stored facts of a plan row's image, to check the file against before its crops are replayed. */
export function rowImage(plan: EpochPlan, row: number): LabelledImage {
  const images = plan.images[plan.shard[row]!]!;
  const local = plan.local[row]!;
  const hashes = images.contentHashes;
  return {
    width: images.widths[local]!,
    height: images.heights[local]!,
    // Hex, not a view: a view would carry (and, posted to a render thread, copy) the whole block's buffer.
    hash: hashes === undefined ? undefined : hashHex(hashes.subarray(local * CONTENT_HASH_BYTES, (local + 1) * CONTENT_HASH_BYTES)),
  };
}

/** The stored crop box of record `crop` of a plan row. */
export function rowBox(plan: EpochPlan, row: number, crop: number): CropSpec {
  const block = plan.blocks[plan.shard[row]!]!;
  const record = plan.first[row]! + crop;
  return { top: block.top[record]!, left: block.left[record]!, height: block.height[record]!, width: block.width[record]!, flip: block.flip[record] === 1 };
}

/**
 * True when the tree is the one the labels were made from. Otherwise it is an error, or
 * with `skip`, images are matched by their stored relative paths and the missing ones skipped.
 */
function checkDataset(dataset: Dataset, labels: LabelSet, skip: boolean): boolean {
  const difference = datasetDifference(dataset, labels.manifest.dataset);
  if (difference === undefined) return true;
  // A class the tree lacks would get label mass no folder holds: no onError policy skips that.
  if (!skip || difference.missingClasses) {
    throw new FkdError('E_DATASET_MISMATCH', `${dataset.root} is not the dataset ${labels.location} was labelled from (${difference.detail}). Point the data option at the same tree${difference.missingClasses ? '' : ", or pass onError: 'skip' to use the images that still match by path"}.`, { path: dataset.root, option: 'data' });
  }
  return false;
}
