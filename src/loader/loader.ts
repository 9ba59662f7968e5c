import { availableParallelism } from 'node:os';
import { scanDataset, type Dataset } from '../dataset/scan.js';
import { FkdError, isFkdError } from '../errors.js';
import type { Interpolation } from '../crop/render.js';
import type { LabelSet } from '../store/labels.js';
import type { Layout } from '../crop/tensor.js';
import { allocateSlot, placeRecord, slotBatch, type BatchContext, type Slot } from './assemble.js';
import type { Batch } from './batch.js';
import { runImageJob, type ImageJob, type ImageJobResult, type RenderSettings } from './job.js';
import { planEpoch, rowPath } from './plan.js';
import { sharedRenderPool } from './pool.js';
import { imageJob } from './render.js';
import { makeTargets } from './targets.js';
import { applyTransforms, type BatchTransform } from './transforms.js';

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
  /**
   * Batch-level steps run in order on every batch before it is yielded (Mixup, CutMix...).
   * Each gets a counter RNG keyed by (seed, epoch, rank, batch), so runs replay exactly.
   */
  transforms?: readonly BatchTransform[];
  /** Yield batches that own their memory (a copy of each), valid forever. Default false. */
  copy?: boolean;
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
  // The store's own trust checks (issue 9) that the loader adds to the option checks above.
  const labels = options.labels;
  if (!labels.manifest.complete && !labels.allowIncomplete) {
    throw new FkdError('E_INCOMPLETE_STORE', `${labels.location} is incomplete (${labels.manifest.shards.length} of ${Math.ceil(labels.manifest.dataset.images / labels.manifest.shardImages)} shards): a loader trains on it only when it was opened with allowIncomplete.`, { path: labels.location });
  }
}

async function* iterate(options: LoaderOptions, stats: LoaderStats): AsyncGenerator<Batch> {
  const labels = options.labels;
  const m = labels.manifest;
  const skip = options.onError === 'skip';
  const dataset = typeof options.data === 'string' ? await scanDataset(options.data) : options.data;
  const rank = options.rank ?? 0;
  const seed = options.shuffle === false ? null : (options.shuffle ?? 0);

  // Plan: which images, in which order, and where their records are.
  const plan = await planEpoch({ labels, dataset, epoch: options.epoch, seed, rank, worldSize: options.worldSize ?? 1, skip, skipped: stats, signal: options.signal });
  // The next student epoch's labels download while this one trains.
  if (labels.epochs > 1) labels.prefetchEpoch((plan.labelEpoch + 1) % labels.epochs);
  const order = plan.order;
  const crops = plan.crops;
  const topK = m.codec.topK;

  const settings: RenderSettings = {
    size: options.size ?? m.teacher.inputSize,
    interpolation: options.interpolation ?? m.sampler.interpolation,
    layout: options.layout ?? 'nhwc',
    dtype: options.dtype ?? 'float32',
    normalization: { mean: m.teacher.mean, std: m.teacher.std },
    maxPixels: m.sampler.maxPixels,
  };
  const perCrop = 3 * settings.size * settings.size;
  const batchSize = options.batchSize;
  const threads = options.workers ?? availableParallelism();
  const pool = threads > 0 ? sharedRenderPool(threads) : null;
  const run = (job: ImageJob): Promise<ImageJobResult> => (pool ? pool.run(job) : runImageJob(job));
  const window = (options.concurrency ?? Math.max(2, threads * 2)) + (options.prefetch ?? 2) * Math.ceil(batchSize / crops);
  const context: BatchContext = {
    plan,
    imageSize: settings.size,
    layout: settings.layout,
    normalization: settings.normalization,
    perCrop,
    topK,
    numClasses: labels.numClasses,
    targets: (classes, probs, dense) =>
      makeTargets(classes, probs, { numClasses: labels.numClasses, topK, mode: m.codec.target, ...(options.temperature === undefined ? {} : { temperature: options.temperature }) }, dense),
  };
  const transforms = options.transforms ?? [];
  const transformSeed = seed ?? 0;

  // Render: a window of image jobs in flight, taken in order.
  const inFlight = new Map<number, Promise<ImageJobResult>>();
  const start = (position: number): void => {
    const row = order[position];
    if (row === undefined || inFlight.has(position)) return;
    stats.decodes++;
    const promise = run(imageJob(dataset, plan, row, settings));
    promise.catch(() => undefined); // observed when its turn comes
    inFlight.set(position, promise);
  };

  // Assemble, transform, yield.
  let slot: Slot = allocateSlot({ batchSize, perCrop, dtype: settings.dtype, topK }, false);
  let batchIndex = 0;
  const finish = async (count: number): Promise<Batch> => {
    stats.batches++;
    stats.crops += count;
    let batch = slotBatch(slot, count, context);
    if (transforms.length > 0) batch = await applyTransforms(batch, transforms, { seed: transformSeed, epoch: options.epoch, rank, batch: batchIndex });
    batchIndex++;
    slot = allocateSlot({ batchSize, perCrop, dtype: settings.dtype, topK }, false);
    return options.copy ? batch.clone() : batch;
  };

  try {
    for (let position = 0; position < Math.min(window, order.length); position++) start(position);
    let filled = 0;
    for (let position = 0; position < order.length; position++) {
      options.signal?.throwIfAborted();
      const row = order[position]!;
      let result: ImageJobResult;
      try {
        result = await inFlight.get(position)!;
      } catch (error) {
        if (!skip || !isFkdError(error)) throw error;
        stats.skippedImages.push({ path: rowPath(plan, row), reason: error.message });
        continue;
      } finally {
        inFlight.delete(position);
        start(position + window);
      }
      stats.images++;
      for (let c = 0; c < crops; c++) {
        slot.images.set(result.pixels.subarray(c * perCrop, (c + 1) * perCrop), filled * perCrop);
        placeRecord(slot, filled, plan, row, c, topK);
        filled++;
        if (filled === batchSize) {
          yield await finish(filled);
          filled = 0;
        }
      }
    }
    if (filled > 0 && !options.dropLast) yield await finish(filled);
  } finally {
    await Promise.allSettled(inFlight.values());
  }
}
