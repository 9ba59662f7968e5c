import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { label } from '../generate/label.js';
import { createLoader } from '../loader/index.js';
import { openLabels } from '../store/labels.js';
import type { OpenStoreOptions } from '../storage/open.js';
import { pack } from '../webdataset/pack.js';

export interface ShardSetBenchOptions {
  /** The ImageFolder to pack and to compare against. */
  data: string;
  /** A cheap teacher: the label arms then time reading and decoding, not the model. */
  teacher: string;
  /** An `s3://` location to pack a copy to, with its endpoint; omitted: no S3 arm. */
  s3?: { location: string; store: OpenStoreOptions };
  /** Alternated rounds per comparison; the best of each arm counts (default 3). */
  rounds?: number;
  size?: number;
  workers?: number;
}

export interface ShardSetBenchResult {
  images: number;
  /** Label pass images/s from the folder and from local shards, and shards ÷ folder. */
  label: { folder: number; shards: number; ratio: number };
  /** Loader crops/s from the folder, local shards and S3 shards; local ÷ folder, S3 ÷ local. */
  loader: { folder: number; shards: number; s3: number | null; shardsOverFolder: number; s3OverShards: number | null };
  /** Milliseconds from createLoader to the first batch (best of the rounds). */
  firstBatchMs: { folder: number; shards: number; s3: number | null };
}

/**
 * Reading images from WebDataset shards against reading the ImageFolder they were packed
 * from, in the same run: the label pass (a near-free teacher, 1 epoch × 4 crops) and the
 * loader (224 px, 4 crops/image, render threads), from local shards and from S3 shards.
 * Arms alternate round by round and the best of each counts, so load from the machine's other
 * users hurts every arm alike. Each image is one ranged read in every shard arm.
 *
 * @example
 * const r = await benchShardSets({ data: 'bench/out/data', teacher: 'fixtures/teacher/tiny.onnx' });
 */
export async function benchShardSets(options: ShardSetBenchOptions): Promise<ShardSetBenchResult> {
  const rounds = options.rounds ?? 3;
  const work = join(tmpdir(), `fkd-bench-wds-${process.pid}`);
  const shards = join(work, 'wds');
  try {
    const packed = await pack({ data: options.data, out: shards, shardMiB: 2 });
    if (options.s3) await pack({ data: options.data, out: options.s3.location, shardMiB: 2, store: options.s3.store });
    const labelRate = async (data: string): Promise<number> => {
      const out = join(work, 'labels-run');
      await rm(out, { recursive: true, force: true });
      const started = performance.now();
      const result = await label({ data, teacher: options.teacher, out, epochs: 1, crops: 4, interpolation: 'bilinear', threads: 1 });
      return result.images / ((performance.now() - started) / 1000);
    };
    const labelBest = { folder: 0, shards: 0 };
    for (let round = 0; round < rounds; round++) {
      for (const arm of round % 2 === 0 ? (['folder', 'shards'] as const) : (['shards', 'folder'] as const)) {
        labelBest[arm] = Math.max(labelBest[arm], await labelRate(arm === 'folder' ? options.data : shards));
      }
    }
    const store = join(work, 'labels');
    await label({ data: options.data, teacher: options.teacher, out: store, epochs: 1, crops: 4, interpolation: 'bilinear', threads: 1 });
    const labels = await openLabels(store);
    const epoch = async (data: string, dataStore?: OpenStoreOptions): Promise<{ rate: number; firstMs: number }> => {
      const started = performance.now();
      let firstMs = -1;
      let crops = 0;
      for await (const batch of createLoader({ data, labels, epoch: 0, batchSize: 128, size: options.size ?? 224, layout: 'nchw', workers: options.workers ?? 2, ...(dataStore ? { store: dataStore } : {}) })) {
        if (firstMs < 0) firstMs = performance.now() - started;
        crops += batch.size;
      }
      return { rate: crops / ((performance.now() - started) / 1000), firstMs };
    };
    const arms = { folder: () => epoch(options.data), shards: () => epoch(shards), ...(options.s3 ? { s3: () => epoch(options.s3!.location, options.s3!.store) } : {}) };
    const best: Record<string, { rate: number; firstMs: number }> = {};
    const names = Object.keys(arms) as Array<keyof typeof arms>;
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? names : [...names].reverse()) {
        const run = await arms[name]!();
        const known = best[name];
        best[name] = { rate: Math.max(known?.rate ?? 0, run.rate), firstMs: Math.min(known?.firstMs ?? Infinity, run.firstMs) };
      }
    }
    const s3 = best.s3 ?? null;
    return {
      images: packed.images,
      label: { ...labelBest, ratio: labelBest.shards / labelBest.folder },
      loader: { folder: best.folder!.rate, shards: best.shards!.rate, s3: s3?.rate ?? null, shardsOverFolder: best.shards!.rate / best.folder!.rate, s3OverShards: s3 ? s3.rate / best.shards!.rate : null },
      firstBatchMs: { folder: best.folder!.firstMs, shards: best.shards!.firstMs, s3: s3?.firstMs ?? null },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
