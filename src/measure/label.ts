import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeInfo } from '../check/info.js';
import { CounterRandom, keyOf } from '../crop/rng.js';
import { label } from '../generate/label.js';
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
