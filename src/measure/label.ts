import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeInfo } from '../check/info.js';
import { CounterRandom, keyOf } from '../crop/rng.js';
import { label } from '../generate/label.js';
import { scanDataset } from '../dataset/scan.js';
import { createLoader } from '../loader/index.js';
import { openLabels } from '../store/labels.js';
import type { Device } from '../teacher/engine.js';
import { loadTeacher } from '../teacher/load.js';

export interface LabelBenchOptions {
  data: string;
  teacher: string;
  epochs?: number;
  crops?: number;
  topK?: number;
  batch?: number;
  threads?: number;
  /** Render threads of the label pass (default: all cores). */
  renderThreads?: number;
  device?: Device;
  /** Where the label store goes; a temporary directory (removed afterwards) by default. */
  out?: string;
}

export interface LabelBenchResult {
  labelCropsPerSec: number;
  teacherOnlyCropsPerSec: number;
  /** labelCropsPerSec ÷ teacherOnlyCropsPerSec: 1 means decode, render and writes are fully hidden. */
  ratio: number;
  bytesPerRecord: number;
  decodesPerImage: number;
  images: number;
  crops: number;
  teacher: string;
  batch: number;
  threads: number;
}

/**
 * Measures the label pass against the teacher alone (same engine, batch and threads, run
 * before and after the pass and averaged, because this machine is shared and noisy).
 *
 * @example
 * const result = await benchLabel({ data: 'bench-data', teacher: 'resnet18.onnx', epochs: 4, crops: 4 });
 */
export async function benchLabel(options: LabelBenchOptions): Promise<LabelBenchResult> {
  const batch = options.batch ?? 32;
  const threads = options.threads ?? (await import('node:os')).availableParallelism();
  const out = options.out ?? (await mkdtemp(join(tmpdir(), 'fkd-bench-label-')));
  try {
    const teacherOptions = { threads, ...(options.device ? { device: options.device } : {}) };
    const before = await teacherOnly(options.teacher, teacherOptions, batch, 8);
    let started = 0;
    const result = await label({
      data: options.data,
      teacher: options.teacher,
      out,
      epochs: options.epochs ?? 4,
      crops: options.crops ?? 4,
      ...(options.topK === undefined ? {} : { topK: options.topK }),
      batch,
      threads,
      ...(options.renderThreads === undefined ? {} : { renderThreads: options.renderThreads }),
      ...(options.device ? { device: options.device } : {}),
      onTeacher: () => {
        started = performance.now();
      },
    });
    const labelSeconds = (performance.now() - started) / 1000;
    const after = await teacherOnly(options.teacher, teacherOptions, batch, 8);
    const teacherOnlyCropsPerSec = (before + after) / 2;
    const labelCropsPerSec = result.crops / labelSeconds;
    const info = await storeInfo(out);
    return {
      labelCropsPerSec,
      teacherOnlyCropsPerSec,
      ratio: labelCropsPerSec / teacherOnlyCropsPerSec,
      bytesPerRecord: info.bytesPerRecord,
      decodesPerImage: result.decodesPerImage,
      images: result.images,
      crops: result.crops,
      teacher: `${result.teacher.engine}/${result.teacher.backend} ${result.teacher.inputSize}px`,
      batch,
      threads,
    };
  } finally {
    if (options.out === undefined) await rm(out, { recursive: true, force: true });
  }
}

/** Crops per second of the teacher alone on random normalised input, after one warm-up batch. */
async function teacherOnly(file: string, teacherOptions: { threads: number; device?: Device }, batch: number, batches: number): Promise<number> {
  const engine = await loadTeacher(file, teacherOptions);
  try {
    const size = engine.info.inputSize;
    const input = new Float32Array(batch * 3 * size * size);
    const random = new CounterRandom(keyOf(1));
    for (let i = 0; i < input.length; i++) input[i] = random.uniform(-2, 2);
    await engine.infer(input, batch);
    const started = performance.now();
    for (let i = 0; i < batches; i++) await engine.infer(input, batch);
    return (batch * batches) / ((performance.now() - started) / 1000);
  } finally {
    await engine.dispose();
  }
}

export interface LabelVersusLoaderOptions {
  data: string;
  /** A near-free teacher (bench/make-pool-teacher.js), standing in for one on a GPU. */
  teacher: string;
  crops?: number;
  /** Alternated rounds of (label pass, loader epoch); medians are reported. */
  rounds?: number;
  /** Render threads of the label pass (default: all cores); the loader always has all cores. */
  renderThreads?: number;
  batch?: number;
}

export interface LabelVersusLoaderRound {
  labelCropsPerSec: number;
  loaderCropsPerSec: number;
  /** CPU time of the whole process (every thread, engine threads included) per crop, in ms. */
  labelCpuMsPerCrop: number;
  loaderCpuMsPerCrop: number;
}

export interface LabelVersusLoaderResult {
  /** Medians over the rounds. */
  labelCropsPerSec: number;
  loaderCropsPerSec: number;
  /** Median of the rounds' label ÷ loader. */
  ratio: number;
  labelCpuMsPerCrop: number;
  loaderCpuMsPerCrop: number;
  rounds: LabelVersusLoaderRound[];
  images: number;
  cropsPerImage: number;
  size: number;
  renderThreads: number;
}

/**
 * The label pass with a near-free teacher against the loader, at the same size, crops per
 * image (one label epoch: each image decoded once for `crops` crops, as the loader does per
 * epoch) and photos: what is left of the pass when the teacher costs nothing is its CPU side,
 * which should keep up with the loader. Rounds alternate which arm goes first; the pass is
 * timed from the loaded teacher to the finished store (scan, shards, manifest included), the
 * loader for one epoch of that store. The teacher gets one engine thread: on a GPU it takes
 * no cores from the render threads, and onnxruntime's spinning pool threads would.
 *
 * @example
 * const r = await benchLabelVersusLoader({ data: 'bench/out/data-384', teacher: 'bench/models/pool-teacher-c4.onnx' });
 */
export async function benchLabelVersusLoader(options: LabelVersusLoaderOptions): Promise<LabelVersusLoaderResult> {
  const crops = options.crops ?? 4;
  const rounds = options.rounds ?? 5;
  const cores = (await import('node:os')).availableParallelism();
  const renderThreads = options.renderThreads ?? cores;
  const batch = options.batch ?? 32;
  const work = await mkdtemp(join(tmpdir(), 'fkd-bench-label-loader-'));
  try {
    const dataset = await scanDataset(options.data);
    const labelPass = async (out: string): Promise<{ cropsPerSec: number; cpuMsPerCrop: number; size: number }> => {
      let started = 0;
      let cpu = process.cpuUsage();
      const result = await label({
        data: options.data,
        teacher: options.teacher,
        out,
        epochs: 1,
        crops,
        interpolation: 'bilinear',
        batch,
        threads: 1,
        renderThreads,
        onTeacher: () => {
          started = performance.now();
          cpu = process.cpuUsage();
        },
      });
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      return { cropsPerSec: result.crops / seconds, cpuMsPerCrop: (used.user + used.system) / 1000 / result.crops, size: result.teacher.inputSize };
    };
    const store = join(work, 'store');
    // Warm-up, untimed: starts the shared render threads, loads the engine, reads the files once.
    const { size } = await labelPass(store);
    const labels = await openLabels(store);
    const loaderEpoch = async (): Promise<{ cropsPerSec: number; cpuMsPerCrop: number }> => {
      const started = performance.now();
      const cpu = process.cpuUsage();
      let count = 0;
      for await (const b of createLoader({ data: dataset, labels, epoch: 0, batchSize: 128, size, layout: 'nchw', workers: cores })) count += b.size;
      const used = process.cpuUsage(cpu);
      return { cropsPerSec: count / ((performance.now() - started) / 1000), cpuMsPerCrop: (used.user + used.system) / 1000 / count };
    };
    await loaderEpoch();
    const measured: LabelVersusLoaderRound[] = [];
    for (let round = 0; round < rounds; round++) {
      const out = join(work, `round-${round}`);
      const loaderFirst = round % 2 === 1;
      const loader = loaderFirst ? await loaderEpoch() : undefined;
      const pass = await labelPass(out);
      const after = loader ?? (await loaderEpoch());
      await rm(out, { recursive: true, force: true });
      measured.push({ labelCropsPerSec: pass.cropsPerSec, loaderCropsPerSec: after.cropsPerSec, labelCpuMsPerCrop: pass.cpuMsPerCrop, loaderCpuMsPerCrop: after.cpuMsPerCrop });
    }
    const median = (values: number[]): number => {
      const sorted = [...values].sort((a, b) => a - b);
      const middle = sorted.length >> 1;
      return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
    };
    return {
      labelCropsPerSec: median(measured.map((r) => r.labelCropsPerSec)),
      loaderCropsPerSec: median(measured.map((r) => r.loaderCropsPerSec)),
      ratio: median(measured.map((r) => r.labelCropsPerSec / r.loaderCropsPerSec)),
      labelCpuMsPerCrop: median(measured.map((r) => r.labelCpuMsPerCrop)),
      loaderCpuMsPerCrop: median(measured.map((r) => r.loaderCpuMsPerCrop)),
      rounds: measured,
      images: dataset.images.length,
      cropsPerImage: crops,
      size,
      renderThreads,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
