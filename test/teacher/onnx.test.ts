import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxTeacher } from '../../src/teacher/onnx.js';
import { checkClassCount } from '../../src/teacher/common.js';
import { expectFkdError, fixture, maxAbsDifference, nchwToNhwc, pseudoRandomBatch, tinyOnnx, withTempDirectory } from './helpers.js';

const side = 64;
const row = 3 * side * side;

describe('OnnxTeacher on tiny.onnx (NCHW, dynamic batch)', () => {
  let teacher: OnnxTeacher;
  beforeAll(async () => {
    teacher = await OnnxTeacher.load(fixture('tiny.onnx'), { threads: 1 });
  });
  afterAll(() => teacher.dispose());

  it('reads the contract from the model', () => {
    expect(teacher.info).toEqual({ engine: 'onnx', backend: 'cpu', inputSize: 64, layout: 'nchw', numClasses: 4, fixedBatch: null });
  });

  it('gives each crop the same row whatever batch it is in (1, 5, 17)', async () => {
    const input = pseudoRandomBatch(17 * row, 7);
    const singles = new Float32Array(17 * 4);
    for (let i = 0; i < 17; i++) {
      const one = await teacher.infer(input.subarray(i * row, (i + 1) * row), 1);
      expect(one).toHaveLength(4);
      singles.set(one, i * 4);
    }
    const five = await teacher.infer(input.subarray(0, 5 * row), 5);
    const all = await teacher.infer(input, 17);
    expect(all).toHaveLength(17 * 4);
    expect(maxAbsDifference(five, singles.subarray(0, 20))).toBeLessThan(1e-5);
    expect(maxAbsDifference(all, singles)).toBeLessThan(1e-5);
    expect(all.every(Number.isFinite)).toBe(true);
  });

  it('returns nothing for an empty batch and rejects a wrongly sized input', async () => {
    expect(await teacher.infer(new Float32Array(0), 0)).toHaveLength(0);
    await expect(teacher.infer(new Float32Array(row - 1), 1)).rejects.toThrow(RangeError);
  });
});

describe('OnnxTeacher on tiny-nhwc-fixed.onnx (NHWC, fixed batch 8)', () => {
  let fixed: OnnxTeacher;
  let reference: OnnxTeacher;
  beforeAll(async () => {
    [fixed, reference] = await Promise.all([OnnxTeacher.load(fixture('tiny-nhwc-fixed.onnx'), { threads: 1 }), OnnxTeacher.load(fixture('tiny.onnx'), { threads: 1 })]);
  });
  afterAll(async () => {
    await Promise.all([fixed.dispose(), reference.dispose()]);
  });

  it('detects the layout and the fixed batch', () => {
    expect(fixed.info).toMatchObject({ layout: 'nhwc', fixedBatch: 8, inputSize: 64, numClasses: 4 });
  });

  it.each([3, 8, 11])('pads and splits a batch of %i to exactly n rows, matching the NCHW model', async (n) => {
    const nchw = pseudoRandomBatch(n * row, n);
    const rows = await fixed.infer(nchwToNhwc(nchw, n, side), n);
    expect(rows).toHaveLength(n * 4);
    // Same weights in both fixtures: only the input layout differs.
    expect(maxAbsDifference(rows, await reference.infer(nchw, n))).toBeLessThan(1e-4);
  });
});

describe('OnnxTeacher options and odd models', () => {
  it('reports a class count that differs from the dataset', async () => {
    const wrong = await OnnxTeacher.load(fixture('wrong-classes.onnx'), { threads: 1 });
    try {
      expect(wrong.info.numClasses).toBe(7);
      expect(() => checkClassCount(wrong, 4, 'wrong-classes.onnx')).toThrow(/wrong-classes\.onnx outputs 7 classes but the dataset has 4 class folders/);
      expect(() => checkClassCount(wrong, 7, 'wrong-classes.onnx')).not.toThrow();
    } finally {
      await wrong.dispose();
    }
  });

  it('fails with E_DEVICE when CUDA is requested but unavailable', async () => {
    await expectFkdError(OnnxTeacher.load(fixture('tiny.onnx'), { device: 'cuda' }), 'E_DEVICE', /CUDA.*set device to cpu/s);
  });

  it('accepts a --size equal to the fixed input size and rejects a different one', async () => {
    const same = await OnnxTeacher.load(fixture('tiny.onnx'), { size: 64, threads: 1 });
    await same.dispose();
    await expectFkdError(OnnxTeacher.load(fixture('tiny.onnx'), { size: 128 }), 'E_MODEL_SHAPE', /tiny\.onnx has a fixed 64×64 input, but size 128/);
  });

  it('takes the size from options (or 224) when the model leaves it dynamic', async () => {
    await withTempDirectory(async (directory) => {
      const file = join(directory, 'dynamic.onnx');
      await writeFile(file, tinyOnnx(['batch', 3, 'height', 'width']));
      const sized = await OnnxTeacher.load(file, { size: 32, threads: 1 });
      expect(sized.info).toMatchObject({ inputSize: 32, layout: 'nchw', numClasses: 4 });
      expect(await sized.infer(pseudoRandomBatch(2 * 3 * 32 * 32), 2)).toHaveLength(8);
      await sized.dispose();
      const unsized = await OnnxTeacher.load(file, { threads: 1 });
      expect(unsized.info.inputSize).toBe(224);
      await unsized.dispose();
    });
  });

  it('finds a dynamic output width with one dummy run', async () => {
    await withTempDirectory(async (directory) => {
      const file = join(directory, 'dynamic-width.onnx');
      await writeFile(file, tinyOnnx(['batch', 3, 16, 16], { classes: 5, dynamicWidth: true }));
      const teacher = await OnnxTeacher.load(file, { threads: 1 });
      expect(teacher.info.numClasses).toBe(5);
      expect(await teacher.infer(pseudoRandomBatch(3 * 3 * 16 * 16), 3)).toHaveLength(15);
      await teacher.dispose();
    });
  });

  it.each([
    ['rank-2 input', ['batch', 12], /rank-2 input \[\?, 12\]/],
    ['1-channel input', ['batch', 1, 32, 32], /no 3-channel dimension/],
    ['non-square input', ['batch', 3, 32, 48], /32×48 inputs/],
  ] as const)('rejects a %s with E_MODEL_SHAPE', async (_, dims, message) => {
    await withTempDirectory(async (directory) => {
      const file = join(directory, 'bad-shape.onnx');
      await writeFile(file, tinyOnnx([...dims]));
      const error = await expectFkdError(OnnxTeacher.load(file), 'E_MODEL_SHAPE', message);
      expect(error.message).toContain(file);
    });
  });
});
