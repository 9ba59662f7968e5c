import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { tinyOnnx } from '../teacher/helpers.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { label } from '../../src/generate/label.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import { ringBatches } from '../../src/loader/options.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';
import { writeGreyJpeg } from '../helpers/images.js';

let work: string;
let labels: LabelSet;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-loader-options-'));
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: join(work, 'labels'), epochs: 1, crops: 2, topK: 2, shardImages: 8, threads: 1 });
  labels = await openLabels(join(work, 'labels'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const options = (extra: Record<string, unknown>): LoaderOptions => ({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 8, size: 16, workers: 0, ...extra });

function refusal(extra: Record<string, unknown>): string {
  try {
    createLoader(options(extra));
  } catch (error) {
    expect(isFkdError(error, 'E_USAGE'), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`createLoader accepted ${JSON.stringify(extra)}`);
}

describe('loader options', () => {
  it.each([
    [{ temperature: -1 }, /number in \[0\.001, 1000\] for temperature but received -1/],
    [{ temperature: Number.NaN }, /for temperature but received NaN/],
    [{ dtype: 'float16' }, /one of float32, uint8 for dtype but received "float16"/],
    [{ layout: 'xyz' }, /one of nchw, nhwc for layout but received "xyz"/],
    [{ interpolation: 'nearest' }, /one of bicubic, bilinear for interpolation but received "nearest"/],
    [{ onError: 'ignore' }, /one of throw, skip for onError/],
    [{ batchSize: 1.5 }, /for batchSize/],
    [{ shuffle: -1 }, /for shuffle/],
    [{ rank: 2, worldSize: 2 }, /rank in 0\.\.1/],
    [{ batchSize: 65_536, size: 16_384 }, /The loader batches would need .* above the memory budget/],
  ])('refuses %j when the loader is created, with a coded error', (extra, message) => {
    expect(refusal(extra)).toMatch(message);
  });

  it('counts the batches the ring allocates, prefetch + 2, in the memory check', () => {
    // 1 × 1024² px × 3 × 4 B = 12 MiB a batch; prefetch 4 makes a ring of 6 (72 MiB), above 64 MiB,
    // where prefetch + 1 (60 MiB) would have passed.
    expect(ringBatches(4, 1)).toBe(6);
    expect(refusal({ batchSize: 1, size: 1024, prefetch: 4, memory: 64 })).toMatch(/× 6 batches \(the ring's 6\)\), above the memory budget of 64\.0 MiB \(memory 64\)/);
    expect(() => createLoader(options({ batchSize: 1, size: 1024, prefetch: 3, memory: 64 }))).not.toThrow();
  });

  it('sizes the ring by one rule, with more batches when one image has more crops than a batch', () => {
    expect(ringBatches(2, 8)).toBe(4);
    expect(ringBatches(0, 8)).toBe(3);
    expect(ringBatches(2, 8, 20)).toBe(2 + Math.ceil(39 / 8));
  });

  it("takes class indices from the store's class names under onError 'skip', whatever folders the tree gained", async () => {
    const data = join(work, 'grown');
    await cp(FIXTURE_IMAGES, data, { recursive: true });
    // A new class folder that sorts first would shift every folder index by one.
    await mkdir(join(data, 'aaa-new'));
    await writeGreyJpeg(join(data, 'aaa-new'), 'x.jpg');
    const stored = labels.manifest.dataset.classes;
    let seen = 0;
    for await (const batch of createLoader(options({ data, onError: 'skip' }))) {
      for (const meta of batch.meta) {
        expect(meta.classIndex).toBe(stored.indexOf(meta.path.split('/')[0]!));
        expect(meta.classIndex).toBeLessThan(labels.numClasses);
        seen++;
      }
    }
    expect(seen).toBe(24 * 2);
  });

  it('bounds the pixels being decoded at once by a quarter of memory, not by concurrency', async () => {
    const data = join(work, 'large');
    const side = 2000;
    for (const name of ['a', 'b']) {
      await mkdir(join(data, name), { recursive: true });
      for (const i of [0, 1, 2]) await sharp({ create: { width: side, height: side, channels: 3, background: { r: 80 * i, g: 90, b: 30 } } }).jpeg().toFile(join(data, name, `${i}.jpg`));
    }
    const teacher = join(work, 'two-classes.onnx');
    await writeFile(teacher, tinyOnnx(['batch', 3, 64, 64], { classes: 2 }));
    await label({ data, teacher, out: join(work, 'large-labels'), epochs: 1, crops: 1, topK: 1, threads: 1 });
    const large = await openLabels(join(work, 'large-labels'));
    const peak = async (memory: number): Promise<number> => {
      const loader = createLoader({ data, labels: large, epoch: 0, batchSize: 6, size: 16, workers: 0, concurrency: 8, memory });
      for await (const batch of loader) expect(batch.size).toBe(6);
      return loader.stats.peakPixelsInFlight;
    };
    const image = side * side;
    // 64 MiB: a quarter holds 5.2 million pixels at 3.2 B each, one 4-million-pixel image at a time.
    expect(await peak(64)).toBe(image);
    expect(await peak(16_384)).toBeGreaterThan(2 * image);
  });
});
