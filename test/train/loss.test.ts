import type { Rank, Tensor2D } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTf } from '../../src/tf/runtime.js';
import type { Tf } from '../../src/tf/types.js';
import { softCrossEntropy } from '../../src/train/loss.js';

let tf: Tf;
beforeAll(async () => {
  ({ tf } = await loadTf('training'));
});

/** The definition, in float64: mean over rows of −Σ p · (z − logsumexp(z)). */
function reference(logits: number[][], targets: number[][]): number {
  let total = 0;
  logits.forEach((row, r) => {
    const max = Math.max(...row);
    const logSum = max + Math.log(row.reduce((sum, z) => sum + Math.exp(z - max), 0));
    row.forEach((z, c) => {
      total -= targets[r]![c]! * (z - logSum);
    });
  });
  return total / logits.length;
}

function lossOf(logits: number[][], targets: number[][]): number {
  return tf.tidy(() => softCrossEntropy(tf, tf.tensor2d(logits), tf.tensor2d(targets)).dataSync()[0]!);
}

describe('softCrossEntropy', () => {
  it('matches a float64 hand computation', () => {
    const logits = [
      [2, 0, -1, 0.5],
      [-0.3, 1.7, 0.2, 0.2],
      [0, 0, 0, 0],
    ];
    const targets = [
      [0.7, 0.1, 0.1, 0.1],
      [0.05, 0.9, 0.05, 0],
      [0.25, 0.25, 0.25, 0.25],
    ];
    expect(lossOf(logits, targets)).toBeCloseTo(reference(logits, targets), 6);
    // Uniform logits against any distribution cost exactly log(C).
    expect(lossOf([[0, 0, 0, 0]], [[0.7, 0.1, 0.1, 0.1]])).toBeCloseTo(Math.log(4), 6);
  });

  it('equals ordinary cross-entropy for one-hot targets', () => {
    const logits = [[1, 2, 3]];
    const expected = -(1 - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
    expect(lossOf(logits, [[1, 0, 0]])).toBeCloseTo(expected, 6);
  });

  it('stays finite for huge logits', () => {
    const logits = [[1000, -1000, 0]];
    const targets = [[0.5, 0.25, 0.25]];
    const loss = lossOf(logits, targets);
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeCloseTo(reference(logits, targets), 2);
  });

  it('has gradient (softmax(z) − p) / batch', () => {
    const logits = [
      [0.5, -1, 2],
      [0, 3, 1],
    ];
    const targets = [
      [0.2, 0.3, 0.5],
      [0.6, 0.3, 0.1],
    ];
    const grad = tf.tidy(() =>
      tf.grad((z) => softCrossEntropy(tf, z as Tensor2D, tf.tensor2d(targets)))(tf.tensor2d(logits)).arraySync(),
    ) as number[][];
    logits.forEach((row, r) => {
      const sum = row.reduce((acc, z) => acc + Math.exp(z), 0);
      row.forEach((z, c) => {
        expect(grad[r]![c]).toBeCloseTo((Math.exp(z) / sum - targets[r]![c]!) / logits.length, 6);
      });
    });
  });

  it('rejects mismatched shapes and leaks no tensors', () => {
    const before = tf.memory().numTensors;
    expect(lossOf([[1, 2]], [[1, 0]])).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    const logits = tf.zeros<Rank.R2>([2, 3]);
    const targets = tf.zeros<Rank.R2>([2, 4]);
    expect(() => softCrossEntropy(tf, logits, targets)).toThrow(expect.objectContaining({ code: 'E_MODEL_SHAPE' }));
    tf.dispose([logits, targets]);
  });
});
