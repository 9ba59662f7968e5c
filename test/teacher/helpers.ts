import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { expect } from 'vitest';
import { isFkdError, type FkdErrorCode } from '../../src/errors.js';

const { onnx } = onnxProto;

export const teacherFixtures = fileURLToPath(new URL('../../fixtures/teacher/', import.meta.url));
export const fixture = (name: string) => join(teacherFixtures, name);

/** Deterministic crops in roughly the range normalised pixels take. */
export function pseudoRandomBatch(length: number, seed = 1): Float32Array {
  const values = new Float32Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = (state / 2 ** 32) * 4 - 2;
  }
  return values;
}

/** Converts one NCHW batch to NHWC, to feed the same crops to an NHWC teacher. */
export function nchwToNhwc(input: Float32Array, batch: number, side: number): Float32Array {
  const output = new Float32Array(input.length);
  const plane = side * side;
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < plane; p++) output[(n * plane + p) * 3 + c] = input[(n * 3 + c) * plane + p]!;
    }
  }
  return output;
}

export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

export function argmaxRows(rows: Float32Array, width: number): number[] {
  const result: number[] = [];
  for (let start = 0; start < rows.length; start += width) {
    let best = 0;
    for (let k = 1; k < width; k++) if (rows[start + k]! > rows[start + best]!) best = k;
    result.push(best);
  }
  return result;
}

export async function withTempDirectory<T>(use: (directory: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), 'fkd-teacher-'));
  try {
    return await use(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Asserts that `promise` rejects with an FkdError of `code` whose message names `mention`. */
export async function expectFkdError(promise: Promise<unknown>, code: FkdErrorCode, mention: string | RegExp): Promise<Error> {
  const error = await promise.then(
    () => {
      throw new Error(`expected ${code}, but it resolved`);
    },
    (caught: unknown) => caught,
  );
  if (!isFkdError(error)) throw error;
  expect(error.code).toBe(code);
  if (typeof mention === 'string') expect(error.message).toContain(mention);
  else expect(error.message).toMatch(mention);
  return error;
}

type Dimension = number | string;

/**
 * A minimal valid ONNX classifier: GlobalAveragePool → Flatten → MatMul for a rank-4 input
 * (pooling over the last two dimensions), or a bare MatMul for a rank-2 one. `input[1]` must
 * be a number: it is the feature count the weights are made for. `dynamicWidth` hides the
 * output width behind ops that ORT's shape inference cannot resolve, so the engine must
 * probe it.
 */
export function tinyOnnx(input: Dimension[], { classes = 4, dynamicWidth = false }: { classes?: number; dynamicWidth?: boolean } = {}): Uint8Array {
  const features = input[1];
  if (typeof features !== 'number') throw new TypeError('input[1] must be a fixed dimension');
  const weights = new Float32Array(features * classes).map((_, i) => Math.sin(i + 1));
  const int64 = (name: string, value: number) => ({ name, dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [value] });
  const node = (opType: string, inputs: string[], output: string, attribute: onnxProto.onnx.IAttributeProto[] = []) => ({ opType, input: inputs, output: [output], attribute });
  const product = dynamicWidth ? 'product' : 'logits';
  const nodes =
    input.length === 4
      ? [node('GlobalAveragePool', ['input'], 'pooled'), node('Flatten', ['pooled'], 'flat'), node('MatMul', ['flat', 'w'], product)]
      : [node('MatMul', ['input', 'w'], product)];
  if (dynamicWidth) {
    // Reshape to [-1, classes + 0 * nonzeroCount]: the width is data-dependent to ORT.
    nodes.push(
      node('NonZero', ['product'], 'nonzero'),
      node('Shape', ['nonzero'], 'nonzeroShape'),
      node('Slice', ['nonzeroShape', 'one', 'two'], 'count'),
      node('Sub', ['count', 'count'], 'zero'),
      node('Add', ['zero', 'classes'], 'width'),
      node('Concat', ['minusOne', 'width'], 'shape', [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }]),
      node('Reshape', ['product', 'shape'], 'logits'),
    );
  }
  const tensorType = (dims: Dimension[]) => ({
    tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'fkd-tests',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'tiny',
      node: nodes,
      initializer: [
        { name: 'w', dims: [features, classes], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(weights.buffer) },
        ...(dynamicWidth ? [int64('one', 1), int64('two', 2), int64('minusOne', -1), int64('classes', classes)] : []),
      ],
      input: [{ name: 'input', type: tensorType(input) }],
      output: [{ name: 'logits', type: tensorType([input[0] ?? 'batch', dynamicWidth ? 'classes' : classes]) }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
