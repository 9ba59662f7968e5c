import { beforeAll, describe, expect, it } from 'vitest';
import { loadTf } from '../../src/tf/runtime.js';
import type { Tf } from '../../src/tf/types.js';
import { batchToTensors, toTfDataset } from '../../src/train/tensors.js';
import { syntheticBatch, syntheticBatches } from '../helpers/batches.js';

let tf: Tf;
beforeAll(async () => {
  ({ tf } = await loadTf('training'));
});

describe('batchToTensors', () => {
  it('gives NHWC float32 pixels, dense targets and folder labels', () => {
    const batch = syntheticBatch({ size: 3, imageSize: 4, numClasses: 5, seed: 7 });
    const { xs, ys, hard } = batchToTensors(tf, batch);
    expect(xs.shape).toEqual([3, 4, 4, 3]);
    expect(xs.dtype).toBe('float32');
    expect(Array.from(xs.dataSync())).toEqual(Array.from(batch.images));
    expect(ys.shape).toEqual([3, 5]);
    expect(Array.from(ys.dataSync())).toEqual(Array.from(batch.targets.dense()));
    expect(hard.dtype).toBe('int32');
    expect(Array.from(hard.dataSync())).toEqual(batch.meta.map((sample) => sample.classIndex));
    tf.dispose([xs, ys, hard]);
  });

  it('transposes NCHW batches to NHWC', () => {
    const nhwc = batchToTensors(tf, syntheticBatch({ size: 2, imageSize: 5, layout: 'nhwc', seed: 3 }));
    const nchw = batchToTensors(tf, syntheticBatch({ size: 2, imageSize: 5, layout: 'nchw', seed: 3 }));
    expect(nchw.xs.shape).toEqual([2, 5, 5, 3]);
    expect(Array.from(nchw.xs.dataSync())).toEqual(Array.from(nhwc.xs.dataSync()));
    tf.dispose([nhwc.xs, nhwc.ys, nhwc.hard, nchw.xs, nchw.ys, nchw.hard]);
  });

  it('scales uint8 pixels by 1/255', () => {
    const batch = syntheticBatch({ size: 2, imageSize: 3, dtype: 'uint8', layout: 'nchw' });
    const { xs, ys, hard } = batchToTensors(tf, batch);
    const values = xs.arraySync();
    const plane = 9;
    // Pixel (row 1, column 2), channel 1 of sample 1 in the NCHW byte layout.
    expect(values[1]![1]![2]![1]).toBeCloseTo(batch.images[(1 * 3 + 1) * plane + 1 * 3 + 2]! / 255, 6);
    expect(Math.max(...xs.dataSync())).toBeLessThanOrEqual(1);
    tf.dispose([xs, ys, hard]);
  });

  it('normalises uint8 batches on the device with the batch\'s mean/std, to the float32 values', () => {
    const normalization = { mean: [0.485, 0.456, 0.406] as const, std: [0.229, 0.224, 0.225] as const };
    for (const layout of ['nhwc', 'nchw'] as const) {
      const bytes = syntheticBatch({ size: 2, imageSize: 3, dtype: 'uint8', layout });
      const floats = Float32Array.from(bytes.images, (v, i) => {
        const c = layout === 'nhwc' ? i % 3 : Math.floor(i / 9) % 3;
        return v * (1 / (255 * normalization.std[c]!)) - normalization.mean[c]! / normalization.std[c]!;
      });
      const fromBytes = batchToTensors(tf, { ...bytes, normalization });
      const fromFloats = batchToTensors(tf, { ...bytes, images: floats });
      const a = fromBytes.xs.dataSync();
      const b = fromFloats.xs.dataSync();
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
      tf.dispose([fromBytes.xs, fromBytes.ys, fromBytes.hard, fromFloats.xs, fromFloats.ys, fromFloats.hard]);
    }
  });

  it('detaches tensors from the batch memory on request (the cpu backend would keep the arrays)', () => {
    const batch = syntheticBatch({ size: 2, imageSize: 4, seed: 5 });
    const first = batch.images[0]!;
    const shared = batchToTensors(tf, batch);
    const detached = batchToTensors(tf, batch, { detach: true });
    batch.images[0] = first + 100;
    batch.targets.dense()[0] = 7;
    expect(detached.xs.dataSync()[0]).toBe(first);
    expect(detached.ys.dataSync()[0]).not.toBe(7);
    if (tf.getBackend() === 'cpu') expect(shared.xs.dataSync()[0]).toBe(Math.fround(first + 100));
    tf.dispose([shared.xs, shared.ys, shared.hard, detached.xs, detached.ys, detached.hard]);
  });

  it('rejects a batch whose pixel count does not add up', () => {
    const batch = syntheticBatch({ size: 2, imageSize: 4 });
    const before = tf.memory().numTensors;
    expect(() => batchToTensors(tf, { ...batch, imageSize: 5 })).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    expect(() => batchToTensors(tf, { ...batch, meta: batch.meta.slice(1) })).toThrow(/sample records/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('toTfDataset', () => {
  it('yields {xs, ys} of the right shapes and calls the factory once per iteration', async () => {
    let calls = 0;
    const dataset = toTfDataset(tf, () => {
      calls += 1;
      return syntheticBatches(3, { size: 4, imageSize: 8, numClasses: 6 });
    });
    const before = tf.memory().numTensors;
    for (let pass = 0; pass < 2; pass += 1) {
      const shapes: number[][] = [];
      await dataset.forEachAsync(({ xs, ys }) => {
        shapes.push(xs.shape, ys.shape);
        tf.dispose([xs, ys]);
      });
      expect(shapes).toEqual([
        [4, 8, 8, 3],
        [4, 6],
        [4, 8, 8, 3],
        [4, 6],
        [4, 8, 8, 3],
        [4, 6],
      ]);
    }
    expect(calls).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
  });
});
