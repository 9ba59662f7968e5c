import { describe, expect, it } from 'vitest';
import type { TeacherInfo } from '../../src/teacher/engine.js';
import { describeTeacher, resolveInputGeometry, runInBatches } from '../../src/teacher/common.js';
import { expectFkdError, pseudoRandomBatch } from './helpers.js';

describe('resolveInputGeometry', () => {
  const geometry = (dims: (number | null)[], options = {}) => resolveInputGeometry(dims, 'nchw', options, 't.onnx');

  it('reads layout, size and batch', () => {
    expect(geometry([null, 3, 224, 224])).toEqual({ layout: 'nchw', inputSize: 224, fixedBatch: null });
    expect(geometry([8, 299, 299, 3])).toEqual({ layout: 'nhwc', inputSize: 299, fixedBatch: 8 });
    expect(geometry([null, null, null, 3], { size: 96 })).toEqual({ layout: 'nhwc', inputSize: 96, fixedBatch: null });
    expect(geometry([null, 3, null, null])).toMatchObject({ inputSize: 224 });
    expect(geometry([null, 3, 64, null])).toMatchObject({ inputSize: 64 });
  });

  it('breaks a 3-vs-3 tie with the preferred layout', () => {
    expect(resolveInputGeometry([1, 3, 3, 3], 'nhwc', {}, 't').layout).toBe('nhwc');
    expect(resolveInputGeometry([1, 3, 3, 3], 'nchw', {}, 't').layout).toBe('nchw');
  });

  it('rejects what fkd cannot feed', () => {
    expect(() => geometry([null, null, null, null])).toThrow(/no 3-channel dimension/);
    expect(() => geometry([null, 4, 32, 32])).toThrow(/no 3-channel dimension/);
    expect(() => geometry([null, 3, 32])).toThrow(/rank-3/);
    expect(() => geometry([null, 3, 32, 32], { size: 64 })).toThrow(/fixed 32×32 input, but size 64/);
  });
});

describe('runInBatches', () => {
  // A fake model: each output row is [sum of its inputs, batch size it ran in].
  const calls: number[] = [];
  const fake = async (chunk: Float32Array, batch: number) => {
    calls.push(batch);
    const rows = new Float32Array(batch * 2);
    for (let r = 0; r < batch; r++) {
      rows[r * 2] = chunk.subarray(r * 3, r * 3 + 3).reduce((a, b) => a + b, 0);
      rows[r * 2 + 1] = batch;
    }
    return rows;
  };

  it('pads a short final batch and splits a long one, keeping row order', async () => {
    calls.length = 0;
    const input = pseudoRandomBatch(11 * 3);
    const rows = await runInBatches(input, 11, 3, 2, 4, fake, 'fake');
    expect(calls).toEqual([4, 4, 4]);
    expect(rows).toHaveLength(22);
    for (let r = 0; r < 11; r++) expect(rows[r * 2]).toBeCloseTo(input[r * 3]! + input[r * 3 + 1]! + input[r * 3 + 2]!, 5);
  });

  it('runs a dynamic batch in one call', async () => {
    calls.length = 0;
    await runInBatches(pseudoRandomBatch(7 * 3), 7, 3, 2, null, fake, 'fake');
    expect(calls).toEqual([7]);
  });

  it('reports a model that returns the wrong number of values', async () => {
    await expectFkdError(runInBatches(new Float32Array(6), 2, 3, 5, null, fake, 'odd.onnx'), 'E_MODEL_SHAPE', 'odd.onnx returned 4 values for a batch of 2');
  });
});

describe('describeTeacher', () => {
  it('prints one line', () => {
    const info: TeacherInfo = { engine: 'onnx', backend: 'cpu', inputSize: 224, layout: 'nchw', numClasses: 1000, fixedBatch: null };
    expect(describeTeacher(info)).toBe('onnx teacher on cpu: 224×224 nchw input, 1000 classes, dynamic batch');
    expect(describeTeacher({ ...info, engine: 'tfjs', backend: 'wasm', layout: 'nhwc', fixedBatch: 8 })).toBe('tfjs teacher on wasm: 224×224 nhwc input, 1000 classes, fixed batch of 8');
  });
});
