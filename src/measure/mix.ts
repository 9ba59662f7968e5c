import { availableParallelism } from 'node:os';
import { scanDataset } from '../dataset/scan.js';
import { createLoader, type MixOptions } from '../loader/index.js';
import { openLabels, type LabelSet } from '../store/labels.js';

export interface MixBenchOptions {
  data: string;
  labels: string | LabelSet;
  mix: MixOptions;
  size?: number;
  batchSize?: number;
  workers?: number;
  dtype?: 'float32' | 'uint8';
  /** Alternated rounds of both arms; the first is a warm-up and not counted. Default 7. */
  rounds?: number;
}

export interface MixBenchResult {
  /** Median epoch time with `mix` off and on, in ms. */
  offMs: number;
  onMs: number;
  /** Loader throughput with mix on ÷ with mix off (> 1 would mean mixing is free and noise won). */
  ratio: number;
  /** The same ratio from CPU time (every thread of the process): the work mixing adds, whatever else the machine runs. */
  cpuRatio: number;
  cropsPerEpoch: number;
  offCropsPerSec: number;
  onCropsPerSec: number;
  dtype: 'float32' | 'uint8';
  workers: number;
  size: number;
}

/**
 * The mix stage's cost: loader epochs with `mix` off and on, alternated round by round (the
 * order flips every round, so drifting machine load hits both arms alike), medians of wall
 * time and of the process's CPU time compared.
 *
 * @example
 * const r = await benchMix({ data: 'train', labels: './labels', mix: { mode: 'both' } });
 * console.log(r.ratio); // target ≥ 0.9
 */
export async function benchMix(options: MixBenchOptions): Promise<MixBenchResult> {
  const labels = typeof options.labels === 'string' ? await openLabels(options.labels) : options.labels;
  const dataset = await scanDataset(options.data);
  const size = options.size ?? 224;
  const workers = options.workers ?? availableParallelism();
  const dtype = options.dtype ?? 'float32';
  const rounds = options.rounds ?? 7;
  const base = { data: dataset, labels, epoch: 0, batchSize: options.batchSize ?? 128, size, layout: 'nchw' as const, dtype, workers };
  const arms = { off: () => createLoader(base), on: () => createLoader({ ...base, mix: options.mix }) };
  const times: Record<keyof typeof arms, number[]> = { off: [], on: [] };
  const cpu: Record<keyof typeof arms, number[]> = { off: [], on: [] };
  let cropsPerEpoch = 0;
  for (let round = 0; round < rounds; round++) {
    for (const arm of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      let crops = 0;
      const started = performance.now();
      const used = process.cpuUsage();
      for await (const batch of arms[arm]()) crops += batch.size;
      const spent = process.cpuUsage(used);
      if (round > 0) {
        times[arm].push(performance.now() - started);
        cpu[arm].push(spent.user + spent.system);
      }
      cropsPerEpoch = crops;
    }
  }
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
  const offMs = median(times.off);
  const onMs = median(times.on);
  return { offMs, onMs, ratio: offMs / onMs, cpuRatio: median(cpu.off) / median(cpu.on), cropsPerEpoch, offCropsPerSec: cropsPerEpoch / (offMs / 1000), onCropsPerSec: cropsPerEpoch / (onMs / 1000), dtype, workers, size };
}
