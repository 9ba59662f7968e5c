import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { label } from '../../src/generate/label.js';
import type { Batch } from '../../src/loader/batch.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import type { MixOptions } from '../../src/loader/mix.js';
import { mixKernel } from '../../src/loader/mix-kernel.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { collectBatches } from '../helpers/batches.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

let work: string;
let labels: LabelSet;
let labelsTop1: LabelSet;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-mix-'));
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: join(work, 'top2'), epochs: 1, crops: 2, topK: 2, threads: 1 });
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: join(work, 'top1'), epochs: 1, crops: 2, topK: 1, threads: 1, rebuild: 'renorm' });
  labels = await openLabels(join(work, 'top2'));
  labelsTop1 = await openLabels(join(work, 'top1'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const SIZE = 12;
const options = (extra: Partial<LoaderOptions> = {}): LoaderOptions => ({ data: FIXTURE_IMAGES, labels, epoch: 1, batchSize: 10, size: SIZE, workers: 0, shuffle: 3, copy: true, ...extra });

const collect = (loaderOptions: LoaderOptions): Promise<Batch[]> => collectBatches(createLoader(loaderOptions));

/** Index of value (channel c, row y, column x) of sample i in a batch. */
function at(batch: Batch, i: number, y: number, x: number, c: number): number {
  const plane = batch.imageSize * batch.imageSize;
  return batch.layout === 'nhwc' ? (i * plane + y * batch.imageSize + x) * 3 + c : (i * 3 + c) * plane + y * batch.imageSize + x;
}

const cases = [
  ['float32', 'nhwc'],
  ['float32', 'nchw'],
  ['uint8', 'nhwc'],
  ['uint8', 'nchw'],
] as const;

describe('loader mix', () => {
  it.each(cases)('CutMix pastes exactly the partner box of the unmixed crops (%s, %s), and λ is the share of own pixels', async (dtype, layout) => {
    const plain = await collect(options({ dtype, layout }));
    const mixed = await collect(options({ dtype, layout, mix: { mode: 'cutmix', alpha: 1, seed: 5 } }));
    let pasted = 0;
    for (const [b, batch] of mixed.entries()) {
      const before = plain[b]!;
      for (let i = 0; i < batch.size; i++) {
        const mix = batch.meta[i]!.mix!;
        expect(mix.box, 'CutMix records its box').toBeDefined();
        const box = mix.box!;
        expect(mix.lambda).toBe(1 - (box.height * box.width) / (SIZE * SIZE));
        for (let y = 0; y < SIZE; y++) {
          for (let x = 0; x < SIZE; x++) {
            const inside = y >= box.top && y < box.top + box.height && x >= box.left && x < box.left + box.width;
            for (let c = 0; c < 3; c++) {
              const want = inside ? before.images[at(before, mix.partner, y, x, c)] : before.images[at(before, i, y, x, c)];
              if (batch.images[at(batch, i, y, x, c)] !== want) throw new Error(`batch ${b} sample ${i} (${y}, ${x}, ${c}) differs`);
            }
          }
        }
        pasted += box.height * box.width;
      }
    }
    expect(pasted, 'some boxes are not empty').toBeGreaterThan(0);
  });

  it.each(cases)('Mixup blends λ·own + (1 − λ)·partner of the unmixed crops (%s, %s; uint8 rounds half up)', async (dtype, layout) => {
    const plain = await collect(options({ dtype, layout }));
    const mixed = await collect(options({ dtype, layout, mix: { mode: 'mixup', alpha: 0.8, seed: 5 } }));
    const per = 3 * SIZE * SIZE;
    for (const [b, batch] of mixed.entries()) {
      const before = plain[b]!;
      for (let i = 0; i < batch.size; i++) {
        const mix = batch.meta[i]!.mix!;
        expect(mix.box).toBeUndefined();
        for (let v = 0; v < per; v++) {
          const want = mix.lambda * before.images[i * per + v]! + (1 - mix.lambda) * before.images[mix.partner * per + v]!;
          const got = batch.images[i * per + v]!;
          if (dtype === 'uint8' ? got !== Math.round(want) : Math.abs(got - want) > 1e-5 * (1 + Math.abs(want))) throw new Error(`batch ${b} sample ${i} value ${v}: ${got} against ${want}`);
        }
      }
    }
  });

  it.each([
    ['top-2 marginal', () => labels],
    ['top-1 renorm', () => labelsTop1],
  ])('mixes targets as λ·t_i + (1 − λ)·t_partner of the unmixed dense targets, rows summing to 1 (%s)', async (_name, store) => {
    const plain = await collect(options({ labels: store() }));
    const mixed = await collect(options({ labels: store(), mix: { mode: 'both', alpha: 1, prob: 0.7, seed: 9 } }));
    const classes = store().numClasses;
    const kinds = new Set<string>();
    for (const [b, batch] of mixed.entries()) {
      const dense = batch.targets.dense();
      const before = plain[b]!.targets.dense();
      expect(batch.targets.topK).toBe(Math.min(2 * store().manifest.codec.topK, classes));
      for (let i = 0; i < batch.size; i++) {
        const mix = batch.meta[i]!.mix;
        kinds.add(mix === undefined ? 'none' : mix.box ? 'cutmix' : 'mixup');
        const partner = mix?.partner ?? i;
        const lambda = mix?.lambda ?? 1;
        let sum = 0;
        for (let c = 0; c < classes; c++) {
          sum += dense[i * classes + c]!;
          expect(dense[i * classes + c]).toBeCloseTo(lambda * before[i * classes + c]! + (1 - lambda) * before[partner * classes + c]!, 5);
        }
        expect(sum).toBeCloseTo(1, 5);
      }
    }
    expect([...kinds].sort()).toEqual(['cutmix', 'mixup', 'none']);
  });

  it('replays the same mix for the same (seed, epoch), whatever the threads or prefetch, and another for another seed or epoch', async () => {
    const mix: MixOptions = { mode: 'both', alpha: 1, seed: 11 };
    const digest = (batches: Batch[]) => batches.map((b) => ({ images: Array.from(b.images), meta: JSON.stringify(b.meta), dense: Array.from(b.targets.dense()) }));
    const first = digest(await collect(options({ mix, dtype: 'uint8' })));
    expect(digest(await collect(options({ mix, dtype: 'uint8', workers: 2, prefetch: 3 })))).toEqual(first);
    expect(digest(await collect(options({ mix: { ...mix, seed: 12 }, dtype: 'uint8' })))).not.toEqual(first);
    const otherEpoch = await collect(options({ mix, dtype: 'uint8', epoch: 2 }));
    const sameOrder = await collect(options({ dtype: 'uint8', epoch: 2 }));
    expect(otherEpoch[0]!.meta.map((m) => m.mix)).not.toEqual((await collect(options({ mix, dtype: 'uint8' })))[0]!.meta.map((m) => m.mix));
    expect(otherEpoch.map((b) => b.meta.map((m) => m.path))).toEqual(sameOrder.map((b) => b.meta.map((m) => m.path)));
  });

  it('gives float32 Mixup pixels bit for bit the same from the wasm kernel (render threads: the ring is wasm memory) as from JavaScript (no threads)', async () => {
    const mix: MixOptions = { mode: 'mixup', alpha: 1, seed: 3 };
    const js = await collect(options({ mix }));
    let ringInWasm = false;
    const threaded: Batch[] = [];
    for await (const batch of createLoader(options({ mix, workers: 2, copy: false }))) {
      ringInWasm ||= mixKernel(batch.images.buffer) !== undefined;
      threaded.push(batch.clone());
    }
    expect(ringInWasm, 'the threaded ring is wasm memory, so the kernel ran').toBe(true);
    expect(threaded.map((b) => Buffer.from(b.images.buffer, b.images.byteOffset, b.images.byteLength).toString('hex'))).toEqual(js.map((b) => Buffer.from(b.images.buffer, b.images.byteOffset, b.images.byteLength).toString('hex')));
  });

  it('keeps a mixed batch, its targets and its mix record valid until the consumer asks for the batch two after it', async () => {
    const mix: MixOptions = { mode: 'both', seed: 2 };
    const want = await collect(options({ mix }));
    const contents = (b: Batch) => ({ images: Array.from(b.images), dense: Array.from(b.targets.dense()), classes: Array.from(b.targets.classes), meta: JSON.stringify(b.meta) });
    const held: Batch[] = [];
    for await (const batch of createLoader(options({ mix, copy: false, prefetch: 0, workers: 1 }))) {
      held.push(batch);
      const k = held.length - 1;
      if (k > 0) expect(contents(held[k - 1]!), `batch ${k - 1} while ${k} is held`).toEqual(contents(want[k - 1]!));
    }
    expect(held).toHaveLength(want.length);
  });

  it('leaves pixels and targets alone with prob 0, and keeps the partner inside the batch', async () => {
    const plain = await collect(options());
    const none = await collect(options({ mix: { mode: 'cutmix', prob: 0 } }));
    for (const [b, batch] of none.entries()) {
      expect(batch.images).toEqual(plain[b]!.images);
      expect(Array.from(batch.targets.dense())).toEqual(Array.from(plain[b]!.targets.dense()).map((v) => expect.closeTo(v, 6)));
      expect(batch.meta.every((m) => m.mix === undefined)).toBe(true);
    }
    for (const batch of await collect(options({ mix: { mode: 'mixup' }, batchSize: 7 }))) {
      for (const [i, meta] of batch.meta.entries()) {
        if (batch.size === 1) expect(meta.mix).toBeUndefined();
        else expect(meta.mix!.partner).not.toBe(i);
        if (meta.mix) expect(meta.mix.partner).toBeLessThan(batch.size);
      }
    }
  });

  it.each([
    [{ mode: 'blend' }, /one of mixup, cutmix, both for mix\.mode/],
    [{ alpha: 1 }, /mix\.mode is required/],
    [{ mode: 'mixup', alpha: 0 }, /number in \(0, 100\] for mix\.alpha but received 0/],
    [{ mode: 'mixup', prob: 1.5 }, /for mix\.prob but received 1\.5/],
    [{ mode: 'mixup', beta: 1 }, /Unknown field "beta" in mix/],
  ])('refuses mix %j with a coded error', (mix, message) => {
    let error: unknown;
    try {
      createLoader(options({ mix: mix as MixOptions }));
    } catch (caught) {
      error = caught;
    }
    expect(isFkdError(error, 'E_USAGE'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});
