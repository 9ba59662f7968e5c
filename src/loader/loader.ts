import { availableParallelism } from 'node:os';
import type { Dataset } from '../dataset/scan.js';
import type { OpenStoreOptions } from '../storage/open.js';
import { openDataset } from '../webdataset/open.js';
import { FkdError, isFkdError } from '../errors.js';
import type { Interpolation } from '../crop/render.js';
import { ringRegionBytes } from '../crop/render-wasm.js';
import type { LabelSet } from '../store/labels.js';
import type { Layout } from '../crop/tensor.js';
import { BatchRing, slotBatch, type BatchContext } from './assemble.js';
import type { Batch } from './batch.js';
import type { RenderSettings } from '../render/job.js';
import { largestImage, planEpoch, rowImage, rowPath } from './plan.js';
import { renderStage, type RenderStage } from './render.js';
import { LOADER_DEFAULTS, ringBatches, validateLoaderOptions } from './options.js';
import { prepareTargets, wrapTargets, type TargetOptions } from './targets.js';
import { MixStage, mixWidth, type MixOptions } from './mix.js';
import { MIX_DEFAULTS, TARGET_DEFAULTS } from './options.js';
import { orderedWindow } from '../pipeline/ordered-window.js';
import { OrderedBudget } from '../pipeline/ordered-budget.js';
import { DECODE_BYTES_PER_PIXEL } from '../dataset/decode.js';
import { memoryBudget } from '../options/memory.js';
import { applyTransforms, type BatchTransform } from './transforms.js';

export interface LoaderOptions {
  /**
   * The images the labels were made from: an ImageFolder root, a WebDataset shard set packed
   * from it (`fkd pack`; a folder, brace pattern, list file or `s3://` location, see
   * `openDataset`), or a dataset already opened with `scanDataset` or `openDataset`.
   */
  data: string | Dataset;
  /** S3 options for an `s3://` shard set (endpoint, retries, timeouts); unset ones come from the environment. */
  store?: OpenStoreOptions;
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
  /**
   * Resume mid-epoch: yield batches `startBatch`, `startBatch + 1`, … of this rank's epoch,
   * byte-identical to those of a pass from batch 0 (shuffle, mix and transforms are keyed by
   * the absolute batch index). Images wholly in the batches before it are never read. Default
   * 0; at most the epoch's batch count (which yields nothing). With `onError: 'skip'` the
   * batches match a full pass only when that pass skipped no image before `startBatch`.
   */
  startBatch?: number;
  signal?: AbortSignal;
  /** `throw` (default) stops at the first missing or unreadable image or damaged shard; `skip` counts it and goes on. */
  onError?: 'throw' | 'skip';
  /** Sharpen (< 1) or soften (> 1) the stored top-k probabilities. */
  temperature?: number;
  /**
   * JPEG decoding on render threads. `auto` (default): a store labelled under the rule
   * `fkd-jpeg-1` (`sampler.decoder`; every store this fkd writes) is replayed under it, so
   * each render thread decodes the JPEGs the rule takes itself, with MozJPEG compiled to
   * WebAssembly (plain baseline or progressive YCbCr or grey, no rotation or colour profile),
   * and hands the rest to sharp; an older store is decoded with libvips throughout, as it was
   * labelled. `sharp`: libvips for every file, which differs from the rule only on damaged
   * JPEGs (README, "JPEG decoding on the render threads").
   */
  decoder?: 'auto' | 'sharp';
  /** MiB the loader may plan for (default: half of the machine's or container's memory). A quarter of it bounds the pixels being decoded at once. */
  memory?: number;
  /**
   * Mixup / CutMix within each batch, after the targets stage and before `transforms`:
   * `batch.meta[i].mix` says what was done, and targets become λ·t_i + (1 − λ)·t_partner.
   */
  mix?: MixOptions;
  /**
   * A target mode on top of the stored labels. `calibrated`: where the teacher's stored
   * probability of the folder class is below `threshold`, the target is the one-hot of the
   * folder class smoothed by `smoothing` (default 0.1); `meta[i].teacherConfidence` has it.
   */
  target?: { mode: 'calibrated'; threshold: number; smoothing?: number };
  /**
   * Batch-level steps run in order on every batch before it is yielded.
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
  /** Of `decodes`, those made on the rendering thread (the store's rule); the rest went to sharp. */
  inThreadDecodes: number;
  skippedImages: Array<{ path: string; reason: string }>;
  skippedShards: Array<{ key: string; reason: string }>;
  /**
   * Whether each image file is checked against the content hash stored for it (format 2 stores)
   * before its crops are replayed; false for a format 1 store, where only its decoded size is.
   */
  contentChecked: boolean;
  /** Most pixels being decoded at once in the last pass (bounded by a quarter of `memory`, or one image larger than that alone). */
  peakPixelsInFlight: number;
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
  validateLoaderOptions(options);
  refuseUntrustedStore(options);
  const contentChecked = options.labels.manifest.version >= 2;
  if (!contentChecked) noticeUncheckedContent(options.labels.location);
  const fresh = (): LoaderStats => ({ batches: 0, images: 0, crops: 0, decodes: 0, inThreadDecodes: 0, skippedImages: [], skippedShards: [], contentChecked, peakPixelsInFlight: 0 });
  const stats = fresh();
  return {
    stats,
    [Symbol.asyncIterator]() {
      Object.assign(stats, fresh());
      return iterate(options, stats)[Symbol.asyncIterator]();
    },
  };
}

const noticed = new Set<string>();

/**
 * Says once per process and store, as a Node warning (stderr by default; `process.on('warning')`
 * to route it), that a format 1 store's images cannot be checked by content.
 */
function noticeUncheckedContent(location: string): void {
  if (noticed.has(location)) return;
  noticed.add(location);
  process.emitWarning(`${location} is a format 1 label store: it has no content hashes, so an image edited after labelling is caught only if its size changed. Label the dataset again with this fkd to get format 2.`, { code: 'FKD_FORMAT_1' });
}

/** The store's own trust checks (issue 9) that the loader adds to the option checks. */
function refuseUntrustedStore(options: LoaderOptions): void {
  const labels = options.labels;
  if (!labels.manifest.complete && !labels.allowIncomplete) {
    throw new FkdError('E_INCOMPLETE_STORE', `${labels.location} is incomplete (${labels.manifest.shards.length} of ${Math.ceil(labels.manifest.dataset.images / labels.manifest.shardImages)} shards): a loader trains on it only when it was opened with allowIncomplete.`, { path: labels.location });
  }
}

async function* iterate(options: LoaderOptions, stats: LoaderStats): AsyncGenerator<Batch> {
  const labels = options.labels;
  const m = labels.manifest;
  const skip = options.onError === 'skip';
  const dataset = typeof options.data === 'string' ? await openDataset(options.data, { store: options.store }) : options.data;
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
    // Replay decodes as the labeler did: by the store's rule, if it has one.
    decoder: options.decoder === 'sharp' ? undefined : m.sampler.decoder,
  };
  const batchSize = options.batchSize;
  // Resume: samples keep their absolute numbers, so batch b still lives in slot b mod count
  // and its mix and transform draws are keyed by b. Only the image the start falls in is
  // read; its crops before the start go to a slot that is never yielded.
  const startBatch = options.startBatch ?? 0;
  const batches = dropLastCount(order.length * crops, batchSize, options.dropLast === true);
  if (startBatch > batches) throw new FkdError('E_USAGE', `Expected startBatch in 0..${batches} (this rank's batches in epoch ${options.epoch}) but received ${startBatch}.`, { option: 'startBatch' });
  const startSample = startBatch * batchSize;
  const firstPosition = Math.min(order.length, Math.floor(startSample / crops));
  const prefetch = options.prefetch ?? LOADER_DEFAULTS.prefetch;
  const threads = options.workers ?? availableParallelism();
  const window = (options.concurrency ?? Math.max(2, threads * 2)) + prefetch * Math.ceil(batchSize / crops);
  const target = options.target;
  const targetOptions: TargetOptions = {
    numClasses: labels.numClasses,
    topK,
    mode: m.codec.target,
    explicit: options.mix !== undefined || target !== undefined,
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    ...(target ? { calibration: { threshold: target.threshold, smoothing: target.smoothing ?? TARGET_DEFAULTS.smoothing } } : {}),
  };
  const context: BatchContext = {
    plan,
    imageSize: settings.size,
    layout: settings.layout,
    normalization: settings.normalization,
    perCrop: 3 * settings.size * settings.size,
    topK,
    numClasses: labels.numClasses,
    targets: (classes, probs, width, dense) => wrapTargets(classes, probs, width, targetOptions, dense),
  };
  const transforms = options.transforms ?? [];
  const transformSeed = seed ?? 0;

  // Assemble: the ring, allocated once for the pass, of the size the memory check counted.
  const ring = new BatchRing(settings, batchSize, topK, ringBatches(prefetch, batchSize, crops), threads > 0, {
    ...(options.mix ? { mixWidth: mixWidth(topK, labels.numClasses) } : {}),
    ...(target ? { confidence: true } : {}),
    ...(threads > 0 ? { renderRegions: { count: threads, bytes: ringRegionBytes(...largestImage(plan), settings.size) } } : {}),
  });
  const mixer = options.mix
    ? new MixStage(
        { mode: options.mix.mode, alpha: options.mix.alpha ?? MIX_DEFAULTS.alpha, prob: options.mix.prob ?? MIX_DEFAULTS.prob, seed: options.mix.seed ?? transformSeed },
        { side: settings.size, layout: settings.layout },
        batchSize,
        settings.dtype,
        topK,
        labels.numClasses,
        ring.mixScratch!,
      )
    : null;
  // Render: images in flight, in order. When image i is taken the consumer has asked for the
  // batch holding its first sample, so every slot from the one before it on is protected; the
  // width keeps image i + width's last crop inside the slots that are free then.
  const width = Math.max(1, Math.min(window, Math.floor(((ring.count - 2) * batchSize + 1) / crops) - 1));
  let stage: RenderStage | undefined;
  const rendering = new Set<Promise<unknown>>();
  // Decodes in flight are bounded by pixels too, not only by `width`: a few huge images would
  // otherwise take gigabytes. Sizes come from the store, so no image is probed first. Renders
  // finish on their own (not when consumed), so admitting in order cannot deadlock.
  const pixels = new OrderedBudget(Math.max(1, Math.floor(memoryBudget(options.memory).bytes / 4 / DECODE_BYTES_PER_PIXEL)), options.signal);
  let pixelsInFlight = 0;
  try {
    stage = renderStage(dataset, plan, ring, threads);
    const render = stage;
    const decodeAdmitted = (position: number, row: number, places: number[]): Promise<void> => {
      const { width: imageWidth, height } = rowImage(plan, row);
      const area = imageWidth * height;
      return pixels.admit(position - firstPosition, area).then(async () => {
        pixelsInFlight += area;
        stats.peakPixelsInFlight = Math.max(stats.peakPixelsInFlight, pixelsInFlight);
        try {
          if (await render.render(row, places)) stats.inThreadDecodes++;
        } finally {
          pixelsInFlight -= area;
          pixels.release(area);
        }
      });
    };
    /** First sample of each started position (shifted down when a skipped image leaves a gap). */
    const firstSample = new Uint32Array(order.length);
    let nextSample = firstPosition * crops;
    let started = 0;
    let yielded = startBatch;
    const start = (position: number): Promise<Error | null> => {
      const row = order[position]!;
      const places = new Array<number>(crops);
      const last = Math.floor((nextSample + crops - 1) / batchSize);
      // Batches from max(0, yielded - 1) on may be held or read; the ring must not wrap onto them.
      if (last >= Math.max(0, yielded - 1) + ring.count) throw new Error(`internal: image ${position} would overwrite batch ${last - ring.count}, which may still be in use`);
      for (let c = 0; c < crops; c++) {
        const place = ring.place(nextSample + c);
        ring.placeRecord(place, plan, row, c);
        places[c] = place;
      }
      firstSample[position] = nextSample;
      started = position + 1;
      nextSample += crops;
      stats.decodes++;
      const done = decodeAdmitted(position, row, places);
      rendering.add(done);
      // Errors come back as values, so the skip policy can decide in order.
      return done.then(
        () => null,
        (error: unknown) => (error instanceof Error ? error : new Error('a render failed', { cause: error })),
      ).finally(() => rendering.delete(done));
    };
    const finish = async (count: number): Promise<Batch> => {
      stats.batches++;
      stats.crops += count;
      const slot = ring.slot(yielded);
      prepareTargets(slot, count, targetOptions);
      mixer?.apply(slot, count, { epoch: options.epoch, rank, batch: yielded });
      let batch = slotBatch(slot, count, context);
      if (transforms.length > 0) batch = await applyTransforms(batch, transforms, { seed: transformSeed, epoch: options.epoch, rank, batch: yielded });
      return options.copy ? batch.clone() : batch;
    };

    let filled = nextSample - startSample;
    let position = firstPosition;
    for await (const error of orderedWindow(order.length - firstPosition, width, (index) => start(firstPosition + index), { signal: options.signal })) {
      const current = position++;
      if (error !== null) {
        // A dead render thread is never an image to skip.
        if (!skip || !isFkdError(error) || error.code === 'E_WORKER') throw error;
        stats.skippedImages.push({ path: rowPath(plan, order[current]!), reason: error.message });
        // Close the gap: wait for the images already placed after it, then move them down.
        await Promise.allSettled(rendering);
        const gap = firstSample[current]!;
        for (let sample = gap + crops; sample < nextSample; sample++) ring.move(ring.place(sample), ring.place(sample - crops));
        for (let later = current + 1; later < started; later++) firstSample[later] = firstSample[later]! - crops;
        nextSample -= crops;
        continue;
      }
      stats.images++;
      filled += crops;
      while (filled >= batchSize) {
        yield await finish(batchSize);
        yielded++;
        filled -= batchSize;
      }
    }
    if (filled > 0 && !options.dropLast) {
      yield await finish(filled);
      yielded++;
    }
  } finally {
    // Renders still waiting for pixels will not start; every render has settled before the
    // ring is let go, so no thread writes into it later.
    pixels.close();
    await Promise.allSettled(rendering);
    if (stage) stage.close();
    else ring.release();
  }
}

/** Batches of a pass over `samples` crops: the last, short one counts unless it is dropped. */
function dropLastCount(samples: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(samples / batchSize) : Math.ceil(samples / batchSize);
}
