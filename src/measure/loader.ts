import { availableParallelism } from 'node:os';
import { scanDataset, imagePath } from '../dataset/scan.js';
import { createLoader } from '../loader/loader.js';
import type { ImageJob } from '../render/job.js';
import { epochOrder } from '../loader/order.js';
import { sharedRenderPool } from '../render/pool.js';
import { orderedWindow } from '../pipeline/ordered-window.js';
import { openLabels, type LabelSet } from '../store/labels.js';
import { presentImages } from '../store/format/columns.js';

export interface LoaderBenchOptions {
  data: string;
  /** A label store location or an opened set. */
  labels: string | LabelSet;
  size?: number;
  batchSize?: number;
  workers?: number;
  /** Batch element type in both arms: normalised float32 (default) or raw uint8. */
  dtype?: 'float32' | 'uint8';
  /** Epochs to stream in each arm; more gives steadier figures. */
  epochs?: number;
  /** `LoaderOptions.decoder` in the loader arm (the baseline always decodes with sharp). Default 'auto'. */
  decoder?: 'auto' | 'sharp';
  /** Epochs of a further arm that records RSS after epochs 1, 5 and 20 (when reached); 0 skips it. Default 0. */
  memoryEpochs?: number;
}

export interface LoaderBenchResult {
  cropsPerSec: number;
  imagesPerSec: number;
  decodesPerImage: number;
  /** The same work with one decode per crop, on the same threads, measured in the same run. */
  baselineCropsPerSec: number;
  ratio: number;
  peakRssMB: number;
  crops: number;
  size: number;
  cropsPerImage: number;
  workers: number;
  dtype: 'float32' | 'uint8';
  /** Share of the loader arm's wall time the main thread's event loop was busy (the rest it waited on render threads or the consumer). */
  mainThreadBusy: number;
  /** System CPU time as a share of all CPU time of the process (every thread) during the loader arm. */
  systemShare: number;
  /** RSS in MB after student epochs 1, 5 and 20 of the memory arm (those it reached); flat means nothing grows per epoch. */
  rssAfterEpochMB: Record<string, number>;
}

/**
 * Loader throughput (float32 NCHW, normalised, or uint8) against a naive loader that decodes
 * the image again for every crop, with the same render threads, order and batch assembly;
 * with the loader arm's main-thread busy share (event-loop utilisation), its system-time
 * share of CPU time, and optionally RSS over many epochs.
 *
 * @example
 * const r = await benchLoader({ data: 'train', labels: './labels', size: 224 });
 */
export async function benchLoader(options: LoaderBenchOptions): Promise<LoaderBenchResult> {
  const labels = typeof options.labels === 'string' ? await openLabels(options.labels) : options.labels;
  const dataset = await scanDataset(options.data);
  const size = options.size ?? 224;
  const batchSize = options.batchSize ?? 128;
  const workers = options.workers ?? availableParallelism();
  const epochs = options.epochs ?? 1;
  const dtype = options.dtype ?? 'float32';
  let peakRss = process.memoryUsage().rss;
  const sample = (): void => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };

  const loaderFor = (epoch: number) => createLoader({ data: dataset, labels, epoch, batchSize, size, layout: 'nchw', dtype, workers, decoder: options.decoder ?? 'auto' });

  // Warm-up, untimed: starts the shared render threads and reads the files once, for both arms.
  for await (const _ of loaderFor(0)) break;

  let crops = 0;
  let images = 0;
  let decodes = 0;
  const started = performance.now();
  const loop = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  for (let epoch = 0; epoch < epochs; epoch++) {
    const loader = loaderFor(epoch);
    for await (const batch of loader) {
      crops += batch.size;
      sample();
    }
    images += loader.stats.images;
    decodes += loader.stats.decodes;
  }
  const seconds = (performance.now() - started) / 1000;
  const mainThreadBusy = performance.eventLoopUtilization(loop).utilization;
  const used = process.cpuUsage(cpu);
  const rssAfterEpochMB: Record<string, number> = {};
  for (let epoch = 0; epoch < (options.memoryEpochs ?? 0); epoch++) {
    for await (const _ of loaderFor(epoch)) sample();
    if ([1, 5, 20].includes(epoch + 1)) rssAfterEpochMB[String(epoch + 1)] = process.memoryUsage().rss / 2 ** 20;
  }
  const baselineCropsPerSec = await naiveLoader(labels, dataset, { size, batchSize, workers, epochs, dtype });
  const cropsPerSec = crops / seconds;
  return {
    cropsPerSec,
    imagesPerSec: images / seconds,
    decodesPerImage: decodes / images,
    baselineCropsPerSec,
    ratio: cropsPerSec / baselineCropsPerSec,
    peakRssMB: peakRss / 2 ** 20,
    crops,
    size,
    cropsPerImage: labels.crops,
    workers,
    dtype,
    mainThreadBusy,
    systemShare: used.system / (used.user + used.system),
    rssAfterEpochMB,
  };
}

/** Crops per second when every crop decodes its image again. */
async function naiveLoader(labels: LabelSet, dataset: Awaited<ReturnType<typeof scanDataset>>, options: { size: number; batchSize: number; workers: number; epochs: number; dtype: 'float32' | 'uint8' }): Promise<number> {
  const m = labels.manifest;
  // The same shared workers the loader arm used, so neither arm pays for starting threads.
  const pool = sharedRenderPool(Math.max(1, options.workers));
  const perCrop = 3 * options.size * options.size;
  let crops = 0;
  const started = performance.now();
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const jobs: ImageJob[] = [];
    for (const shard of m.shards) {
      const images = await labels.readImages(shard);
      const present = presentImages(images);
      const block = await labels.readEpoch(shard, epoch % labels.epochs);
      for (let record = 0; record < block.count; record++) {
        const image = dataset.images[images.imageStart + present[Math.floor(record / labels.crops)]!]!;
        jobs.push({
          file: imagePath(dataset, image),
          name: image.path,
          crops: [{ top: block.top[record]!, left: block.left[record]!, height: block.height[record]!, width: block.width[record]!, flip: block.flip[record] === 1 }],
          size: options.size,
          interpolation: m.sampler.interpolation,
          layout: 'nchw',
          dtype: options.dtype,
          normalization: { mean: m.teacher.mean, std: m.teacher.std },
          maxPixels: m.sampler.maxPixels,
        });
      }
    }
    const order = epochOrder(jobs.map((_, index) => index), { seed: 0, epoch, rank: 0, worldSize: 1 });
    const window = options.workers * 2 + 2 * options.batchSize;
    const newBatch = () => (options.dtype === 'float32' ? new Float32Array(options.batchSize * perCrop) : new Uint8Array(options.batchSize * perCrop));
    let batch = newBatch();
    let filled = 0;
    for await (const result of orderedWindow(order.length, window, (position) => pool.run(jobs[order[position]!]!))) {
      batch.set(result.pixels, filled * perCrop);
      crops++;
      if (++filled === options.batchSize) {
        batch = newBatch();
        filled = 0;
      }
    }
  }
  return crops / ((performance.now() - started) / 1000);
}
