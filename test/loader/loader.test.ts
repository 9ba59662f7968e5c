import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanDataset } from '../../src/dataset/scan.js';
import { isFkdError } from '../../src/errors.js';
import { label } from '../../src/generate/label.js';
import type { Batch } from '../../src/loader/batch.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { loadTeacher } from '../../src/teacher/load.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

const EPOCHS = 2;
const CROPS = 3;
let work: string;
let store: string;
let labels: LabelSet;
/** What the labeler fed the teacher, crop by crop, in labelling order (image, epoch, crop). */
const teacherInputs: Float32Array[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-loader-'));
  store = join(work, 'labels');
  await label({
    data: FIXTURE_IMAGES,
    teacher: FIXTURE_ONNX,
    out: store,
    epochs: EPOCHS,
    crops: CROPS,
    topK: 3,
    shardImages: 7,
    threads: 1,
    onTeacherInput: (input, rows) => {
      const per = input.length / rows;
      for (let row = 0; row < rows; row++) teacherInputs.push(input.slice(row * per, (row + 1) * per));
    },
  });
  labels = await openLabels(store);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const options = (extra: Partial<LoaderOptions> = {}): LoaderOptions => ({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 8, size: 32, workers: 0, ...extra });

/** Every batch of a pass, kept past its ring lifetime, so `copy: true`. */
async function collect(loaderOptions: LoaderOptions): Promise<Batch[]> {
  const batches: Batch[] = [];
  for await (const batch of createLoader({ ...loaderOptions, copy: true })) batches.push(batch);
  return batches;
}

const order = (batches: Batch[]) => batches.flatMap((b) => b.meta.map((m) => `${m.imageIndex}:${m.crop}`));

describe('student loader', () => {
  it('streams every stored crop of every image once per epoch, with labels and provenance', async () => {
    const batches = await collect(options({ batchSize: 10 }));
    expect(batches.map((b) => b.size)).toEqual([10, 10, 10, 10, 10, 10, 10, 2]);
    const metas = batches.flatMap((b) => b.meta);
    expect(metas).toHaveLength(24 * CROPS);
    expect(new Set(metas.map((m) => `${m.imageIndex}:${m.crop}`)).size).toBe(24 * CROPS);
    const first = batches[0]!;
    expect(first.images).toBeInstanceOf(Float32Array);
    expect(first.images.length).toBe(10 * 32 * 32 * 3);
    expect(first.targets.classes.length).toBe(10 * 3);
    const dense = first.targets.dense();
    expect(dense.length).toBe(10 * 4);
    for (let row = 0; row < 10; row++) expect(dense.subarray(row * 4, row * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const meta = first.meta[0]!;
    expect(meta.path).toMatch(/^class-[a-d]-\w+\/img-\d\.jpg$/);
    expect(meta.classIndex).toBe(['class-a-red', 'class-b-green', 'class-c-blue', 'class-d-yellow'].indexOf(meta.path.split('/')[0]!));
    expect(meta.labelEpoch).toBe(0);
  });

  it('keeps the order fixed per seed and epoch, and changes it across epochs and seeds', async () => {
    const a = order(await collect(options()));
    expect(order(await collect(options({ workers: 2 })))).toEqual(a);
    expect(order(await collect(options({ epoch: 1 })))).not.toEqual(a);
    expect(order(await collect(options({ shuffle: 5 })))).not.toEqual(a);
    const unshuffled = order(await collect(options({ shuffle: false })));
    expect(unshuffled.slice(0, 3)).toEqual(['0:0', '0:1', '0:2']);
  });

  it('reads label epoch e mod E for student epoch e', async () => {
    const boxes = async (epoch: number) =>
      (await collect(options({ epoch, shuffle: false }))).flatMap((b) => b.meta.map((m) => `${m.labelEpoch}:${JSON.stringify(m.box)}`));
    const e0 = await boxes(0);
    expect(await boxes(EPOCHS)).toEqual(e0);
    expect(await boxes(1)).not.toEqual(e0);
  });

  it('partitions each epoch across ranks without overlap, covering every image once', async () => {
    const seen: string[] = [];
    for (let rank = 0; rank < 3; rank++) {
      const images = (await collect(options({ rank, worldSize: 3 }))).flatMap((b) => b.meta.filter((m) => m.crop === 0).map((m) => m.path));
      expect(images.length).toBe(8);
      seen.push(...images);
    }
    expect(new Set(seen).size).toBe(24);
    expect(seen).toHaveLength(24);
  });

  it('replays the exact pixels the labeler fed the teacher', async () => {
    for (const workers of [0, 2]) {
      const batches = await collect({ ...options({ workers, shuffle: false, epoch: 0, size: 64, layout: 'nchw', batchSize: 5 }) });
      const replayed = batches.flatMap((b) => Array.from({ length: b.size }, (_, i) => b.images.subarray(i * 3 * 64 * 64, (i + 1) * 3 * 64 * 64)));
      // The labeler went image by image, and within an image epoch by epoch; keep its epoch-0 crops.
      const fed = teacherInputs.filter((_, index) => Math.floor(index / CROPS) % EPOCHS === 0);
      expect(replayed).toHaveLength(fed.length);
      for (const [index, crop] of replayed.entries()) {
        expect(Buffer.from(crop.buffer, crop.byteOffset, crop.byteLength).equals(Buffer.from(fed[index]!.buffer)), `crop ${index}`).toBe(true);
      }
    }
  });

  it('reproduces the stored top-1 when the teacher is re-run on loader crops', async () => {
    const teacher = await loadTeacher(FIXTURE_ONNX, { threads: 1 });
    try {
      for (let epoch = 0; epoch < EPOCHS; epoch++) {
        for (const batch of await collect(options({ epoch, size: 64, layout: 'nchw', batchSize: 16 }))) {
          const logits = await teacher.infer(batch.images as Float32Array, batch.size);
          for (let row = 0; row < batch.size; row++) {
            const scores = Array.from(logits.subarray(row * 4, row * 4 + 4));
            expect(scores.indexOf(Math.max(...scores))).toBe(batch.targets.classes[row * 3]);
          }
        }
      }
    } finally {
      await teacher.dispose();
    }
  });

  it('emits uint8 pixels and honours dropLast', async () => {
    const batches = await collect(options({ dtype: 'uint8', batchSize: 10, dropLast: true }));
    expect(batches.every((b) => b.size === 10 && b.images instanceof Uint8Array)).toBe(true);
    expect(batches).toHaveLength(7);
  });

  it('sharpens stored probabilities with a temperature, keeping the top-k mass', async () => {
    const [plain] = await collect(options());
    const [sharp] = await collect(options({ temperature: 0.5 }));
    const mass = (p: Float32Array) => p[0]! + p[1]! + p[2]!;
    expect(mass(sharp!.targets.probs)).toBeCloseTo(mass(plain!.targets.probs), 5);
    expect(sharp!.targets.probs[0]!).toBeGreaterThan(plain!.targets.probs[0]!);
  });

  it('keeps no more images in flight than the prefetch window, however slow the consumer', async () => {
    const loader = createLoader(options({ batchSize: 3, prefetch: 1, concurrency: 2, workers: 1 }));
    const iterator = loader[Symbol.asyncIterator]();
    await iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // One image consumed; the window is concurrency 2 + prefetch 1 × 1 image per batch.
    expect(loader.stats.decodes).toBeLessThanOrEqual(1 + 3);
    await iterator.return?.();
  });

  it('stops when its signal is aborted', async () => {
    const controller = new AbortController();
    const run = async () => {
      for await (const _ of createLoader(options({ signal: controller.signal }))) controller.abort();
    };
    await expect(run()).rejects.toThrow();
  });
});

describe('student loader on damaged or mismatched inputs', () => {
  it('refuses a different dataset tree by default and names it; skip uses the images still there', async () => {
    const data = join(work, 'fewer');
    await cp(FIXTURE_IMAGES, data, { recursive: true });
    await unlink(join(data, 'class-c-blue', 'img-2.jpg'));
    await expect(collect(options({ data }))).rejects.toSatisfy((e) => isFkdError(e, 'E_DATASET_MISMATCH') && (e as Error).message.includes(data));
    const loader = createLoader(options({ data, onError: 'skip' }));
    let crops = 0;
    for await (const batch of loader) crops += batch.size;
    expect(crops).toBe(23 * CROPS);
    expect(loader.stats.skippedImages).toEqual([{ path: 'class-c-blue/img-2.jpg', reason: 'missing from the dataset' }]);
  });

  it('names an image that disappears mid-run, or skips and counts it', async () => {
    const data = join(work, 'vanishing');
    await cp(FIXTURE_IMAGES, data, { recursive: true });
    const dataset = await scanDataset(data);
    await unlink(join(data, 'class-a-red', 'img-1.jpg'));
    await expect(collect(options({ data: dataset }))).rejects.toSatisfy((e) => isFkdError(e, 'E_IO') && /class-a-red\/img-1\.jpg/.test((e as Error).message));
    const loader = createLoader(options({ data: dataset, onError: 'skip', workers: 2 }));
    for await (const _ of loader);
    expect(loader.stats.skippedImages.map((s) => s.path)).toEqual(['class-a-red/img-1.jpg']);
    expect(loader.stats.crops).toBe(23 * CROPS);
  });

  it('reports a damaged shard by name, or skips its images with a count', async () => {
    const copy = join(work, 'damaged-labels');
    await cp(store, copy, { recursive: true });
    const damaged = await openLabels(copy);
    const shard = damaged.manifest.shards[1]!;
    const file = join(copy, shard.key);
    const bytes = await readFile(file);
    const epoch = shard.layout.epochs[0]!;
    bytes[epoch.offset + epoch.length - 2]! ^= 0x55;
    await writeFile(file, bytes);
    await expect(collect(options({ labels: damaged }))).rejects.toSatisfy((e) => isFkdError(e, 'E_CORRUPT_SHARD') && (e as Error).message.includes(shard.key));
    // Without render threads and with them (whose render regions are sized from the plan's images).
    for (const workers of [0, 2]) {
      const loader = createLoader(options({ labels: damaged, onError: 'skip', workers }));
      for await (const _ of loader);
      expect(loader.stats.skippedShards.map((s) => s.key)).toEqual([shard.key]);
      expect(loader.stats.crops).toBe((24 - shard.imageCount) * CROPS);
    }
  });

  it('refuses a store whose label run has not finished unless asked', async () => {
    const copy = join(work, 'unfinished');
    await cp(store, copy, { recursive: true });
    await unlink(join(copy, 'manifest.json'));
    await unlink(join(copy, 'shards', '000002.json'));
    await expect(openLabels(copy)).rejects.toSatisfy((e) => isFkdError(e, 'E_INCOMPLETE_STORE'));
    const partial = await openLabels(copy, { allowIncomplete: true });
    expect(partial.manifest.complete).toBe(false);
    let crops = 0;
    for await (const batch of createLoader(options({ labels: partial, onError: 'skip' }))) crops += batch.size;
    expect(crops).toBe((24 - 7) * CROPS);
  });
});
