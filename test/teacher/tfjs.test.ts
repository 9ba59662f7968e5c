import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxTeacher } from '../../src/teacher/onnx.js';
import { TfjsTeacher, readTfjsModelJson } from '../../src/teacher/tfjs.js';
import { loadTf } from '../../src/tf/runtime.js';
import { argmaxRows, expectFkdError, fixture, maxAbsDifference, nchwToNhwc, pseudoRandomBatch } from './helpers.js';

const side = 64;
const row = 3 * side * side;

describe.each([
  ['tfjs-layers', 'layers'],
  ['tfjs-graph', 'graph'],
] as const)('TfjsTeacher on %s', (name, kind) => {
  const file = fixture(`${name}/model.json`);
  let teacher: TfjsTeacher;
  let reference: OnnxTeacher;
  beforeAll(async () => {
    [teacher, reference] = await Promise.all([TfjsTeacher.load(file), OnnxTeacher.load(fixture('tiny.onnx'), { threads: 1 })]);
  });
  afterAll(async () => {
    await Promise.all([teacher?.dispose(), reference?.dispose()]);
  });

  it(`is read as a ${kind} model`, async () => {
    expect((await readTfjsModelJson(file)).kind).toBe(kind);
  });

  it('reads shape, classes and the backend in use', async () => {
    const { backend } = await loadTf('inference');
    expect(teacher.info).toEqual({ engine: 'tfjs', backend, inputSize: 64, layout: 'nhwc', numClasses: 4, fixedBatch: null });
  });

  it('computes the same function as tiny.onnx, and frees every tensor', async () => {
    const { tf } = await loadTf('inference');
    const n = 5;
    const nchw = pseudoRandomBatch(n * row, 11);
    const nhwc = nchwToNhwc(nchw, n, side);
    await teacher.infer(nhwc, n); // warm-up: backends may cache tensors on first use
    const before = tf.memory().numTensors;
    const rows = await teacher.infer(nhwc, n);
    await teacher.infer(nhwc.subarray(0, row), 1);
    expect(tf.memory().numTensors).toBe(before);

    expect(rows).toHaveLength(n * 4);
    expect(rows.every(Number.isFinite)).toBe(true);
    // The fixture script builds every teacher from the same weights.
    const onnxRows = await reference.infer(nchw, n);
    expect(argmaxRows(rows, 4)).toEqual(argmaxRows(onnxRows, 4));
    expect(maxAbsDifference(rows, onnxRows)).toBeLessThan(1e-3);
  });

  it('rejects a --size that conflicts with the model', async () => {
    await expectFkdError(TfjsTeacher.load(file, { size: 96 }), 'E_MODEL_SHAPE', /fixed 64×64 input, but size 96/);
  });

  it('fails with E_DEVICE when CUDA is requested without tfjs-node-gpu', async () => {
    await expectFkdError(TfjsTeacher.load(file, { device: 'cuda' }), 'E_DEVICE', file);
  });
});
