import { availableParallelism } from 'node:os';
import pLimit from 'p-limit';
import type { CropSpec } from '../crop/box.js';
import type { Interpolation } from '../crop/render.js';
import { imagePath, scanDataset, type Dataset } from '../dataset/scan.js';
import { FkdError, isFkdError } from '../errors.js';
import { decodeProbability } from '../labels/codec.js';
import type { EpochRecords } from '../store/format.js';
import type { LabelSet } from '../store/labels.js';
import type { ShardEntry } from '../store/manifest.js';
import type { Layout } from '../crop/tensor.js';
import type { Batch, SampleMeta } from './batch.js';
import { runImageJob, type ImageJob, type ImageJobResult } from './job.js';
import { epochOrder } from './order.js';
import { sharedRenderPool } from './pool.js';
import { makeTargets } from './targets.js';

export interface LoaderOptions {
  /** Dataset root (the tree the labels were made from) or a dataset already scanned with `scanDataset`. */
  data: string | Dataset;
  labels: LabelSet;
  /** Student epoch; it reads label epoch `epoch mod labels.epochs`. */
  epoch: number;
  /** Crops per batch. An image's crops stay together unless the batch size is not a multiple of the crop count. */
  batchSize: number;
  /** Output side in pixels (default: the teacher's input size). The box covers the same region at any size. */
  size?: number;
  /** Resampling filter (default: the one the labels were made with, which replays the teacher's pixels exactly). */
  interpolation?: Interpolation;
  layout?: Layout;
  /** `float32` normalised with the store's mean/std (default), or raw `uint8`. */
  dtype?: 'float32' | 'uint8';
  /** Shuffle seed, or `false` to keep dataset order. Default 0. */
  shuffle?: number | false;
  dropLast?: boolean;
  /** Batches prepared ahead of the consumer. Default 2. */
  prefetch?: number;
  /** Image decodes in flight beyond the prefetched batches. Default: twice the render threads. */
  concurrency?: number;
  /** Render threads; 0 renders on the calling thread. Default: the machine's cores. */
  workers?: number;
  rank?: number;
  worldSize?: number;
  signal?: AbortSignal;
  /** `throw` (default) stops at the first missing or unreadable image or damaged shard; `skip` counts it and goes on. */
  onError?: 'throw' | 'skip';
  /** Sharpen (< 1) or soften (> 1) the stored top-k probabilities. */
  temperature?: number;
}

export interface LoaderStats {
  batches: number;
  images: number;
  crops: number;
  decodes: number;
  skippedImages: Array<{ path: string; reason: string }>;
  skippedShards: Array<{ key: string; reason: string }>;
}

export interface Loader extends AsyncIterable<Batch> {
  /** Counters of the latest (or running) pass. */
  readonly stats: LoaderStats;
}

/** Records of one image in the current label epoch. */
interface ImageRecords {
  imageIndex: number;
  path: string;
  classIndex: number;
  block: EpochRecords;
  /** First record of the image in `block`. */
  first: number;
}

/**
 * Streams (crop, stored soft label) batches for one student epoch. Each image is decoded
 * once and its stored crops are replayed through the same renderer the labeler used. The
 * teacher is never loaded. The result is a recipe: iterating it again replays the epoch.
 *
 * @example
 * const labels = await openLabels('./labels');
 * for await (const batch of createLoader({ data: 'train', labels, epoch: 0, batchSize: 256, size: 224 })) {
 *   train(batch.images, batch.targets.dense());
 * }
 */
export function createLoader(options: LoaderOptions): Loader {
  validate(options);
  const stats: LoaderStats = { batches: 0, images: 0, crops: 0, decodes: 0, skippedImages: [], skippedShards: [] };
  return {
    stats,
    [Symbol.asyncIterator]() {
      Object.assign(stats, { batches: 0, images: 0, crops: 0, decodes: 0, skippedImages: [], skippedShards: [] });
      return iterate(options, stats)[Symbol.asyncIterator]();
    },
  };
}

function validate(options: LoaderOptions): void {
  const positive = (name: string, value: number | undefined, min = 1): void => {
    if (value !== undefined && (!Number.isInteger(value) || value < min)) throw new FkdError('E_USAGE', `Expected an integer ≥ ${min} for ${name} but received ${value}.`);
  };
  positive('batchSize', options.batchSize);
  positive('size', options.size);
  positive('prefetch', options.prefetch, 0);
  positive('concurrency', options.concurrency);
  positive('workers', options.workers, 0);
  positive('epoch', options.epoch, 0);
  const worldSize = options.worldSize ?? 1;
  const rank = options.rank ?? 0;
  positive('worldSize', worldSize);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new FkdError('E_USAGE', `Expected rank in 0..${worldSize - 1} but received ${rank}.`);
}

async function* iterate(options: LoaderOptions, stats: LoaderStats): AsyncGenerator<Batch> {
  const labels = options.labels;
  const m = labels.manifest;
  const skip = options.onError === 'skip';
  const dataset = typeof options.data === 'string' ? await scanDataset(options.data) : options.data;
  const pathsMatch = checkDataset(dataset, labels, skip);
  const labelEpoch = options.epoch % labels.epochs;
  const crops = labels.crops;
  const topK = m.codec.topK;

  const records = await loadEpochRecords(labels, labelEpoch, dataset, pathsMatch, skip, stats, options.signal);
  // The next student epoch's labels download while this one trains.
  if (labels.epochs > 1) labels.prefetchEpoch((labelEpoch + 1) % labels.epochs);
  const order = epochOrder([...records.keys()].sort((a, b) => a - b), {
    seed: options.shuffle === false ? null : (options.shuffle ?? 0),
    epoch: options.epoch,
    rank: options.rank ?? 0,
    worldSize: options.worldSize ?? 1,
  });

  const size = options.size ?? m.teacher.inputSize;
  const layout = options.layout ?? 'nhwc';
  const dtype = options.dtype ?? 'float32';
  const perCrop = 3 * size * size;
  const batchSize = options.batchSize;
  const threads = options.workers ?? availableParallelism();
  const pool = threads > 0 ? sharedRenderPool(threads) : null;
  const run = (job: ImageJob): Promise<ImageJobResult> => (pool ? pool.run(job) : runImageJob(job));
  const window = (options.concurrency ?? Math.max(2, threads * 2)) + (options.prefetch ?? 2) * Math.ceil(batchSize / crops);
  const jobOf = (entry: ImageRecords): ImageJob => ({
    file: imagePath(dataset, { path: entry.path }),
    name: entry.path,
    crops: Array.from({ length: crops }, (_, c) => boxOf(entry.block, entry.first + c)),
    size,
    interpolation: options.interpolation ?? m.sampler.interpolation,
    layout,
    dtype,
    normalization: { mean: m.teacher.mean, std: m.teacher.std },
    maxPixels: m.sampler.maxPixels,
  });

  const inFlight = new Map<number, Promise<ImageJobResult>>();
  const start = (position: number): void => {
    const imageIndex = order[position];
    if (imageIndex === undefined || inFlight.has(position)) return;
    stats.decodes++;
    const promise = run(jobOf(records.get(imageIndex)!));
    promise.catch(() => undefined); // observed when its turn comes
    inFlight.set(position, promise);
  };

  let batch = newBatch(batchSize, perCrop, dtype, topK);
  const flush = (count: number): Batch => {
    stats.batches++;
    stats.crops += count;
    const out: Batch = {
      size: count,
      imageSize: size,
      layout,
      images: batch.images.subarray(0, count * perCrop),
      targets: makeTargets(batch.classes.subarray(0, count * topK), batch.probs.subarray(0, count * topK), {
        numClasses: labels.numClasses,
        topK,
        mode: m.codec.target,
        ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
      }),
      meta: batch.meta.slice(0, count),
    };
    batch = newBatch(batchSize, perCrop, dtype, topK);
    return out;
  };

  try {
    for (let position = 0; position < Math.min(window, order.length); position++) start(position);
    let filled = 0;
    for (let position = 0; position < order.length; position++) {
      options.signal?.throwIfAborted();
      const entry = records.get(order[position]!)!;
      let result: ImageJobResult;
      try {
        result = await inFlight.get(position)!;
      } catch (error) {
        if (!skip || !isFkdError(error)) throw error;
        stats.skippedImages.push({ path: entry.path, reason: error.message });
        continue;
      } finally {
        inFlight.delete(position);
        start(position + window);
      }
      stats.images++;
      for (let c = 0; c < crops; c++) {
        const record = entry.first + c;
        batch.images.set(result.pixels.subarray(c * perCrop, (c + 1) * perCrop), filled * perCrop);
        for (let j = 0; j < topK; j++) {
          batch.classes[filled * topK + j] = entry.block.classes[record * topK + j]!;
          batch.probs[filled * topK + j] = decodeProbability(entry.block.codes[record * topK + j]!);
        }
        batch.meta.push({ path: entry.path, imageIndex: entry.imageIndex, classIndex: entry.classIndex, labelEpoch, crop: c, box: boxOf(entry.block, record) });
        filled++;
        if (filled === batchSize) {
          yield flush(filled);
          filled = 0;
        }
      }
    }
    if (filled > 0 && !options.dropLast) yield flush(filled);
  } finally {
    await Promise.allSettled(inFlight.values());
  }
}

function newBatch(batchSize: number, perCrop: number, dtype: 'float32' | 'uint8', topK: number) {
  return {
    images: dtype === 'float32' ? new Float32Array(batchSize * perCrop) : new Uint8Array(batchSize * perCrop),
    classes: new Uint32Array(batchSize * topK),
    probs: new Float32Array(batchSize * topK),
    meta: [] as SampleMeta[],
  };
}

function boxOf(block: EpochRecords, record: number): CropSpec {
  return { top: block.top[record]!, left: block.left[record]!, height: block.height[record]!, width: block.width[record]!, flip: block.flip[record] === 1 };
}

/**
 * True when the tree is the one the labels were made from. Otherwise it is an error, or
 * with `skip`, images are matched by their stored relative paths and the missing ones skipped.
 */
function checkDataset(dataset: Dataset, labels: LabelSet, skip: boolean): boolean {
  const expected = labels.manifest.dataset;
  if (dataset.fingerprint === expected.fingerprint) return true;
  const detail =
    dataset.images.length !== expected.images
      ? `it has ${dataset.images.length} images, the labels ${expected.images}`
      : dataset.classes.join(',') !== expected.classes.join(',')
        ? 'its class folders differ'
        : 'file names or sizes differ';
  if (!skip) {
    throw new FkdError('E_DATASET_MISMATCH', `${dataset.root} is not the dataset ${labels.location} was labelled from (${detail}). Point --data at the same tree, or pass onError: 'skip' to use the images that still match by path.`, { path: dataset.root });
  }
  return false;
}

async function loadEpochRecords(
  labels: LabelSet,
  labelEpoch: number,
  dataset: Dataset,
  pathsMatch: boolean,
  skip: boolean,
  stats: LoaderStats,
  signal: AbortSignal | undefined,
): Promise<Map<number, ImageRecords>> {
  const records = new Map<number, ImageRecords>();
  const byPath = pathsMatch ? null : new Map(dataset.images.map((image, index) => [image.path, index]));
  const limit = pLimit(16);
  const crops = labels.crops;
  await Promise.all(
    labels.manifest.shards.map((shard: ShardEntry) =>
      limit(async () => {
        signal?.throwIfAborted();
        let images;
        let block;
        try {
          images = await labels.readImages(shard);
          block = await labels.readEpoch(shard, labelEpoch);
        } catch (error) {
          if (!skip || !isFkdError(error)) throw error;
          stats.skippedShards.push({ key: shard.key, reason: error.message });
          return;
        }
        const skipped = new Set(images.skipped);
        let rank = 0;
        for (let local = 0; local < images.imageCount; local++) {
          if (skipped.has(local)) continue;
          const first = rank * crops;
          rank++;
          const storedIndex = images.imageStart + local;
          const path = images.paths[local]!;
          const datasetIndex = byPath ? byPath.get(path) : storedIndex;
          const image = datasetIndex === undefined ? undefined : dataset.images[datasetIndex];
          if (!image || image.path !== path) {
            if (!skip) throw new FkdError('E_DATASET_MISMATCH', `${path} is in the labels but not in ${dataset.root}.`, { path });
            stats.skippedImages.push({ path, reason: 'missing from the dataset' });
            continue;
          }
          records.set(storedIndex, { imageIndex: storedIndex, path, classIndex: image.classIndex, block, first });
        }
      }),
    ),
  );
  return records;
}
