import { describe, expect, it } from 'vitest';
import { FkdError } from '../../src/errors.js';
import { toProbabilities } from '../../src/labels/probabilities.js';
import { seededRandom as random } from '../helpers/random.js';


/** Textbook softmax in float64 with the max trick, as the reference. */
function referenceSoftmax(z: ArrayLike<number>, temperature: number): number[] {
  const scaled = Array.from(z, (v) => v / temperature);
  const max = Math.max(...scaled);
  const e = scaled.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function expectCode(run: () => unknown, code: string, pattern?: RegExp): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(FkdError);
    expect((error as FkdError).code).toBe(code);
    if (pattern) expect((error as FkdError).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected ${code}`);
}

function expectClose(actual: Float32Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i] as number;
    // The result is float64 rounded once to float32.
    expect(Math.abs((actual[i] as number) - want)).toBeLessThanOrEqual(want * 2 ** -23 + 1e-30);
  }
}

describe('toProbabilities: logits', () => {
  it('matches a float64 softmax reference for many rows, scales and temperatures', () => {
    const next = random(1);
    for (const temperature of [0.25, 0.5, 1, 2, 4, 10]) {
      for (const scale of [0.1, 1, 10, 100]) {
        const rows = 7;
        const classes = 37;
        const logits = Float32Array.from({ length: rows * classes }, () => (next() - 0.5) * 2 * scale);
        const probs = toProbabilities(logits, rows, classes, { outputs: 'logits', temperature });
        for (let row = 0; row < rows; row++) {
          expectClose(probs.subarray(row * classes, (row + 1) * classes), referenceSoftmax(logits.subarray(row * classes, (row + 1) * classes), temperature));
        }
      }
    }
  });

  it('does not overflow on huge logits', () => {
    const probs = toProbabilities(Float32Array.of(1e30, 1e30 - 1e24, -1e30, 3e38), 1, 4, { outputs: 'logits', temperature: 1 });
    expect(Array.from(probs)).toEqual([0, 0, 0, 1]);
    const even = toProbabilities(Float32Array.of(5000, 5000), 1, 2, { outputs: 'logits', temperature: 1 });
    expect(Array.from(even)).toEqual([0.5, 0.5]);
  });

  it('softens with a high temperature and sharpens with a low one', () => {
    const logits = Float32Array.of(1, 2, 3);
    const soft = toProbabilities(logits, 1, 3, { outputs: 'logits', temperature: 1000 });
    for (const p of soft) expect(p).toBeCloseTo(1 / 3, 3);
    const hard = toProbabilities(logits, 1, 3, { outputs: 'logits', temperature: 1e-300 });
    expect(Array.from(hard)).toEqual([0, 0, 1]);
    const tie = toProbabilities(Float32Array.of(3, 1, 3), 1, 3, { outputs: 'logits', temperature: 1e-300 });
    expect(Array.from(tie)).toEqual([0.5, 0, 0.5]);
  });

  it('returns rows that sum to 1', () => {
    const next = random(2);
    const logits = Float32Array.from({ length: 50 * 1000 }, () => (next() - 0.5) * 20);
    const probs = toProbabilities(logits, 50, 1000, { outputs: 'logits', temperature: 1 });
    for (let row = 0; row < 50; row++) {
      let sum = 0;
      for (let c = 0; c < 1000; c++) sum += probs[row * 1000 + c] as number;
      expect(sum).toBeCloseTo(1, 5);
    }
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('refuses %d with E_MODEL_SHAPE naming NaN/Inf', (bad) => {
    const logits = Float32Array.of(0, 1, 2, 0, bad, 2);
    expectCode(() => toProbabilities(logits, 2, 3, { outputs: 'logits', temperature: 1 }), 'E_MODEL_SHAPE', /NaN\/Inf.*crop 1.*class 1/);
    expectCode(() => toProbabilities(Float32Array.of(0.5, bad), 1, 2, { outputs: 'probs', temperature: 1 }), 'E_MODEL_SHAPE', /NaN\/Inf/);
  });

  it('refuses an output of the wrong size with E_MODEL_SHAPE', () => {
    expectCode(() => toProbabilities(new Float32Array(10), 2, 4, { outputs: 'logits', temperature: 1 }), 'E_MODEL_SHAPE', /10 values for 2 crops × 4 classes/);
  });

  it('refuses bad options with E_USAGE', () => {
    const z = new Float32Array(4);
    for (const temperature of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectCode(() => toProbabilities(z, 1, 4, { outputs: 'logits', temperature }), 'E_USAGE', /temperature/);
    }
    expectCode(() => toProbabilities(z, 1, 4, { outputs: 'scores' as 'logits', temperature: 1 }), 'E_USAGE');
    expectCode(() => toProbabilities(z, 1.5, 4, { outputs: 'logits', temperature: 1 }), 'E_USAGE');
    expectCode(() => toProbabilities(z, 1, 0, { outputs: 'logits', temperature: 1 }), 'E_USAGE');
  });

  it('handles an empty batch', () => {
    expect(toProbabilities(new Float32Array(0), 0, 10, { outputs: 'logits', temperature: 1 })).toHaveLength(0);
  });
});

describe('toProbabilities: probs', () => {
  it('leaves a distribution as given at T = 1', () => {
    const p = Float32Array.of(0.7, 0.2, 0.1, 0);
    const out = toProbabilities(p, 1, 4, { outputs: 'probs', temperature: 1 });
    const values = Array.from(p);
    const sum = values.reduce((a, b) => a + b, 0);
    expectClose(out, values.map((v) => v / sum));
    for (let c = 0; c < 4; c++) expect(out[c]).toBeCloseTo(p[c] as number, 6);
  });

  it('clamps tiny negatives to 0 and renormalises', () => {
    const out = toProbabilities(Float32Array.of(0.5, -1e-7, 0.49), 1, 3, { outputs: 'probs', temperature: 1 });
    expect(out[1]).toBe(0);
    expect((out[0] as number) + (out[2] as number)).toBeCloseTo(1, 6);
    expect(out[0]).toBeCloseTo(0.5 / 0.99, 6);
  });

  it('raises to 1/T and renormalises', () => {
    const p = [0.6, 0.3, 0.1, 0];
    for (const temperature of [0.5, 2, 3]) {
      const out = toProbabilities(Float32Array.from(p), 1, 4, { outputs: 'probs', temperature });
      const powered = p.map((v) => Math.fround(v) ** (1 / temperature));
      const sum = powered.reduce((a, b) => a + b, 0);
      expectClose(out, powered.map((v) => v / sum));
    }
  });

  it('agrees with softmax(logits / T) when given softmax(logits)', () => {
    const next = random(3);
    const z = Array.from({ length: 20 }, () => (next() - 0.5) * 8);
    const p = Float32Array.from(referenceSoftmax(z, 1));
    const viaProbs = toProbabilities(p, 1, 20, { outputs: 'probs', temperature: 2 });
    const reference = referenceSoftmax(z, 2);
    for (let c = 0; c < 20; c++) expect(viaProbs[c]).toBeCloseTo(reference[c] as number, 6);
  });

  it('survives a tiny temperature without underflow', () => {
    const out = toProbabilities(Float32Array.of(0.2, 0.5, 0.3), 1, 3, { outputs: 'probs', temperature: 1e-300 });
    expect(Array.from(out)).toEqual([0, 1, 0]);
  });

  it('refuses rows that look like logits', () => {
    expectCode(() => toProbabilities(Float32Array.of(2.5, -1.3, 0.2), 1, 3, { outputs: 'probs', temperature: 1 }), 'E_MODEL_SHAPE', /use outputs "logits"/);
    expectCode(() => toProbabilities(Float32Array.of(2.5, 1.3, 0.2), 1, 3, { outputs: 'probs', temperature: 1 }), 'E_MODEL_SHAPE', /sums to/);
    expectCode(() => toProbabilities(Float32Array.of(0, 0, 0), 1, 3, { outputs: 'probs', temperature: 1 }), 'E_MODEL_SHAPE', /sums to 0/);
  });
});
