import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { label } from '../../src/generate/label.js';
import type { Batch } from '../../src/loader/batch.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import { transformRandom, type BatchTransform, type TransformContext } from '../../src/loader/transforms.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { collectBatches } from '../helpers/batches.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

let work: string;
let labels: LabelSet;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-transforms-'));
  const store = join(work, 'labels');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: store, epochs: 1, crops: 2, topK: 2, threads: 1 });
  labels = await openLabels(store);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const options = (extra: Partial<LoaderOptions> = {}): LoaderOptions => ({ data: FIXTURE_IMAGES, labels, epoch: 2, batchSize: 10, size: 16, workers: 0, dtype: 'uint8', copy: true, ...extra });

const collect = (loaderOptions: LoaderOptions): Promise<Batch[]> => collectBatches(createLoader(loaderOptions));

describe('loader transforms', () => {
  it('give every batch its position and a counter RNG keyed by (seed, epoch, rank, batch), one stream per transform', async () => {
    const seen: Array<{ epoch: number; batch: number; rank: number; draw: number; transform: number }> = [];
    const record =
      (transform: number): BatchTransform =>
      (_batch, context: TransformContext) => {
        seen.push({ epoch: context.epoch, batch: context.batch, rank: context.rank, draw: context.random.next(), transform });
      };
    const batches = await collect(options({ shuffle: 7, rank: 1, worldSize: 2, transforms: [record(0), record(1)] }));
    expect(seen).toHaveLength(batches.length * 2);
    for (const entry of seen) {
      expect(entry.epoch).toBe(2);
      expect(entry.rank).toBe(1);
      expect(entry.draw).toBe(transformRandom({ seed: 7, epoch: 2, rank: 1, batch: entry.batch }, entry.transform).next());
    }
    expect(seen.map((e) => e.batch)).toEqual(batches.flatMap((_, b) => [b, b]));
    expect(new Set(seen.map((e) => e.draw)).size).toBe(seen.length);
  });

  it('may change a batch in place or return a new one, in list order, before the batch is yielded', async () => {
    const plain = await collect(options());
    const invert: BatchTransform = (batch) => {
      for (let i = 0; i < batch.images.length; i++) batch.images[i] = 255 - batch.images[i]!;
    };
    const halve: BatchTransform = (batch) => ({ ...batch, size: batch.size >> 1, images: batch.images.subarray(0, (batch.size >> 1) * 3 * 16 * 16) });
    const changed = await collect(options({ transforms: [invert, halve] }));
    expect(changed.map((b) => b.size)).toEqual(plain.map((b) => b.size >> 1));
    for (const [index, batch] of changed.entries()) {
      const want = plain[index]!.images.subarray(0, batch.images.length).map((v) => 255 - v);
      expect(batch.images).toEqual(want);
      expect(batch.meta).toEqual(plain[index]!.meta);
    }
  });

  it('draw the same numbers whatever the thread count or prefetch depth', async () => {
    const draws = async (extra: Partial<LoaderOptions>) => {
      const out: number[] = [];
      await collect(options({ ...extra, transforms: [(_b, c) => void out.push(c.random.next())] }));
      return out;
    };
    const inline = await draws({ workers: 0 });
    expect(await draws({ workers: 2, prefetch: 4 })).toEqual(inline);
    expect(await draws({ workers: 1, prefetch: 0, concurrency: 1 })).toEqual(inline);
    expect(await draws({ shuffle: 1 })).not.toEqual(inline);
  });
});
