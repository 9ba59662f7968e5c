import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFastCpuKernels } from '../../src/tf/cpu-kernels.js';
import { loadTf } from '../../src/tf/runtime.js';
import type { Tf } from '../../src/tf/types.js';
import { createStudent } from '../../src/train/students.js';
import { seededRandom } from '../helpers/random.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  filter: number;
  stride: number;
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

let tf: Tf;
let restore: () => void;
const random = seededRandom(7);
const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));

beforeAll(async () => {
  ({ tf } = await loadTf('training'));
  expect(tf.getBackend()).toBe('cpu');
  // loadTf already installed the fast kernel; registering again must not wrap it twice.
  restore = registerFastCpuKernels(tf);
});

afterAll(() => {
  registerFastCpuKernels(tf);
});

function randomTensor(shape: number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => random() * 2 - 1), shape);
}

/** dW of Σ conv2d(x, w) · g, i.e. Conv2DBackpropFilter(x, dy = g). */
function filterGradient(c: Case, x: Tensor4D, w: Tensor4D, g: Tensor): Float32Array {
  return tf.tidy(() => {
    const f = (filter: Tensor): Tensor =>
      tf.conv2d(x, filter as Tensor4D, c.stride, c.pad, 'NHWC', 1, c.dimRoundingMode).mul(g).sum();
    return tf.grad(f)(w).dataSync() as Float32Array;
  });
}

function outSize(c: Case, size: number, lo: number, hi: number): number {
  if (c.pad === 'same') return Math.ceil(size / c.stride);
  if (c.pad === 'valid') return Math.ceil((size - c.filter + 1) / c.stride);
  const raw = (size - c.filter + lo + hi) / c.stride + 1;
  const mode = c.dimRoundingMode ?? 'floor';
  return mode === 'ceil' ? Math.ceil(raw) : mode === 'round' ? Math.round(raw) : Math.floor(raw);
}

function padAmounts(pad: Pad): [number, number, number, number] {
  if (typeof pad === 'number') return [pad, pad, pad, pad];
  if (Array.isArray(pad)) return [pad[1][0], pad[1][1], pad[2][0], pad[2][1]];
  return [0, 0, 0, 0];
}

function randomCase(): Case {
  for (;;) {
    const filter = [1, 3, 5, 7][int(0, 3)]!;
    const kind = int(0, 3);
    const pad: Pad =
      kind === 0
        ? 'same'
        : kind === 1
          ? 'valid'
          : kind === 2
            ? int(0, 3)
            : [
                [0, 0],
                [int(0, 3), int(0, 3)],
                [int(0, 3), int(0, 3)],
                [0, 0],
              ];
    const c: Case = {
      batch: int(1, 4),
      height: int(5, 20),
      width: int(5, 20),
      inChannels: int(1, 8),
      outChannels: int(1, 8),
      filter,
      stride: int(1, 3),
      pad,
    };
    // tfjs allows a rounding mode only with numeric padding.
    if (typeof pad === 'number' && random() < 0.5) c.dimRoundingMode = (['floor', 'round', 'ceil'] as const)[int(0, 2)]!;
    const [top, bottom, left, right] = padAmounts(pad);
    if (outSize(c, c.height, top, bottom) >= 1 && outSize(c, c.width, left, right) >= 1) return c;
  }
}

function compare(c: Case): void {
  const x = randomTensor([c.batch, c.height, c.width, c.inChannels]) as Tensor4D;
  const w = randomTensor([c.filter, c.filter, c.inChannels, c.outChannels]) as Tensor4D;
  const y = tf.conv2d(x, w, c.stride, c.pad, 'NHWC', 1, c.dimRoundingMode);
  const g = randomTensor(y.shape);
  try {
    restore();
    const expected = filterGradient(c, x, w, g);
    registerFastCpuKernels(tf);
    const actual = filterGradient(c, x, w, g);
    expect(actual.length).toBe(expected.length);
    const scale = Math.max(1, ...Array.from(expected, Math.abs));
    let worst = 0;
    for (let i = 0; i < expected.length; i++) {
      worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / scale);
    }
    expect(worst, JSON.stringify(c)).toBeLessThan(1e-4);
  } finally {
    registerFastCpuKernels(tf);
    tf.dispose([x, w, y, g]);
  }
}

describe('registerFastCpuKernels', () => {
  it('installs a Conv2DBackpropFilter that is not the original, idempotently', () => {
    const fast = tf.getKernel('Conv2DBackpropFilter', 'cpu').kernelFunc;
    registerFastCpuKernels(tf);
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu').kernelFunc).toBe(fast);
    restore();
    const original = tf.getKernel('Conv2DBackpropFilter', 'cpu').kernelFunc;
    expect(original).not.toBe(fast);
    registerFastCpuKernels(tf);
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu').kernelFunc).not.toBe(original);
  });

  it('matches the original kernel on the edge cases', () => {
    const cases: Case[] = [
      { batch: 1, height: 5, width: 5, inChannels: 1, outChannels: 1, filter: 5, stride: 1, pad: 'valid' },
      { batch: 2, height: 5, width: 7, inChannels: 3, outChannels: 2, filter: 7, stride: 3, pad: 'same' },
      { batch: 2, height: 20, width: 19, inChannels: 8, outChannels: 8, filter: 3, stride: 2, pad: 'valid' },
      { batch: 1, height: 8, width: 9, inChannels: 2, outChannels: 3, filter: 3, stride: 3, pad: 1, dimRoundingMode: 'ceil' },
      { batch: 1, height: 8, width: 9, inChannels: 2, outChannels: 3, filter: 5, stride: 2, pad: 2, dimRoundingMode: 'round' },
      { batch: 3, height: 9, width: 6, inChannels: 4, outChannels: 5, filter: 1, stride: 2, pad: 'same' },
      {
        batch: 2,
        height: 11,
        width: 10,
        inChannels: 3,
        outChannels: 4,
        filter: 3,
        stride: 2,
        pad: [
          [0, 0],
          [0, 3],
          [2, 1],
          [0, 0],
        ],
      },
    ];
    for (const c of cases) compare(c);
  });

  it('matches the original kernel on 150 random shapes within 1e-4', () => {
    for (let i = 0; i < 150; i++) compare(randomCase());
  });

  it('falls back to the original kernel for NCHW', () => {
    const x = randomTensor([2, 3, 9, 8]);
    const dy = randomTensor([2, 4, 5, 4]);
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] };
    const run = (): Float32Array =>
      tf.tidy(() => tf.engine().runKernel<Tensor>('Conv2DBackpropFilter', { x, dy }, attrs).dataSync<'float32'>());
    restore();
    const expected = run();
    registerFastCpuKernels(tf);
    expect(Array.from(run())).toEqual(Array.from(expected));
    tf.dispose([x, dy]);
  });

  it('leaks no tensors over 50 training steps', () => {
    const model = createStudent(tf, 'tiny', { imageSize: 16, numClasses: 4 });
    const optimizer = tf.train.sgd(0.01);
    const x = randomTensor([4, 16, 16, 3]);
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
    const step = (): void => {
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy<Tensor, Scalar>(labels, model.apply(x) as Tensor),
        true,
      );
      loss?.dispose();
    };
    step(); // optimizer slots and the like are allocated on the first step
    // numTensors counts engine tensors; numDataIds also sees backend intermediates of the kernel.
    const before = { tensors: tf.memory().numTensors, dataIds: tf.backend().numDataIds() };
    for (let i = 0; i < 50; i++) step();
    expect({ tensors: tf.memory().numTensors, dataIds: tf.backend().numDataIds() }).toEqual(before);
    tf.dispose([x, labels]);
    optimizer.dispose();
    model.dispose();
  });

  it('gives the same weights after a tiny-student training step at 32 px as the original kernel', () => {
    const model = createStudent(tf, 'tiny', { imageSize: 32, numClasses: 10 });
    const optimizer = tf.train.sgd(0.1);
    const x = randomTensor([8, 32, 32, 3]);
    const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 8 }, (_, i) => i % 10), 'int32'), 10);
    const initial = model.getWeights().map((weight) => weight.clone());
    // Plain SGD keeps no state, so each kernel takes one step from the same weights.
    const stepFromInitial = (): Float32Array[] => {
      model.setWeights(initial);
      tf.tidy(() => {
        optimizer.minimize(() => tf.losses.softmaxCrossEntropy<Tensor, Scalar>(labels, model.apply(x) as Tensor));
      });
      return model.getWeights().map((weight) => weight.dataSync<'float32'>().slice());
    };
    restore();
    const expected = stepFromInitial();
    registerFastCpuKernels(tf);
    const actual = stepFromInitial();
    const moved = expected.some((weights, i) => weights.some((value, j) => value !== initial[i]!.dataSync()[j]));
    expect(moved, 'the step changed no weight').toBe(true);
    let worst = 0;
    expected.forEach((weights, i) => {
      const scale = Math.max(1, ...Array.from(weights, Math.abs));
      weights.forEach((value, j) => (worst = Math.max(worst, Math.abs(actual[i]![j]! - value) / scale)));
    });
    expect(worst).toBeLessThan(1e-4);
    tf.dispose([x, labels, ...initial]);
    optimizer.dispose();
    model.dispose();
  }, 120_000);
});
