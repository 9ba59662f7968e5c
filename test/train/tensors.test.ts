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
