import { describe, expect, it } from 'vitest';
import {
  MAX_RELATIVE_ERROR,
  PROBABILITY_STEP_LN,
  ZERO_CODE,
  codecDescription,
  decodeProbabilities,
  decodeProbability,
  denseTarget,
  encodeProbabilities,
  encodeProbability,
} from '../../src/labels/codec.js';
import { toProbabilities } from '../../src/labels/probabilities.js';
import { topK } from '../../src/labels/topk.js';
import { seededRandom as random } from '../helpers/random.js';
import { errorCode as code } from '../helpers/errors.js';



/** Equal up to float32 rounding of inputs and outputs. */
function expectValues(actual: Float32Array, expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((value, i) => expect(Math.abs((actual[i] as number) - value)).toBeLessThan(1e-7));
}

function rowSums(out: Float32Array, numClasses: number): number[] {
  const sums: number[] = [];
  for (let base = 0; base < out.length; base += numClasses) {
    let sum = 0;
    for (let c = 0; c < numClasses; c++) sum += out[base + c] as number;
    sums.push(sum);
  }
  return sums;
}

describe('probability codes', () => {
  it('documents a bound under 1%', () => {
    expect(MAX_RELATIVE_ERROR).toBeCloseTo(Math.exp(PROBABILITY_STEP_LN / 2) - 1, 15);
    expect(MAX_RELATIVE_ERROR).toBeLessThan(0.0099);
  });

  it('keeps the relative error under 1% over a dense grid of p in [1e-4, 1]', () => {
    const points = 2_000_000;
    const grid = new Float64Array(points + 1);
    for (let i = 0; i <= points; i++) grid[i] = 1e-4 * 1e4 ** (i / points);
    grid[points] = 1;
    let worst = 0;
    let worstFloat32 = 0;
    const codes = encodeProbabilities(grid);
    const decoded32 = decodeProbabilities(codes);
    for (let i = 0; i <= points; i++) {
      const p = grid[i] as number;
      const c = codes[i] as number;
      worst = Math.max(worst, Math.abs(decodeProbability(c) - p) / p);
      worstFloat32 = Math.max(worstFloat32, Math.abs((decoded32[i] as number) - p) / p);
    }
    expect(worst).toBeLessThanOrEqual(MAX_RELATIVE_ERROR + 1e-12);
    expect(worstFloat32).toBeLessThan(0.01);
    // The grid is dense enough to reach the bound: step midpoints are hit.
    expect(worst).toBeGreaterThan(MAX_RELATIVE_ERROR * 0.999);
  });

  it('keeps the bound for random float32 probabilities, including tiny ones', () => {
    const next = random(11);
    for (let i = 0; i < 200_000; i++) {
      const p = Math.fround(Math.exp(-next() * 60));
      const q = decodeProbability(encodeProbability(p));
      expect(Math.abs(q - p) / p).toBeLessThanOrEqual(MAX_RELATIVE_ERROR + 1e-12);
    }
  });

  it('gives non-increasing codes for increasing probabilities', () => {
    // One expect for the million steps: an expect per step made this test take minutes on a loaded machine.
    let previous = ZERO_CODE;
    const increases: number[] = [];
    for (let i = 0; i <= 1_000_000; i++) {
      const c = encodeProbability(1e-6 * 1e6 ** (i / 1_000_000));
      if (c > previous) increases.push(i);
      previous = c;
    }
    expect(increases).toEqual([]);
    expect(previous).toBe(0);
  });

  it('decodes to strictly decreasing values and round-trips every code', () => {
    let previous = Number.POSITIVE_INFINITY;
    // Beyond ~36300 the decoded value is a subnormal double and loses precision.
    for (let c = 0; c < 36_000; c++) {
      const p = decodeProbability(c);
      expect(p < previous).toBe(true);
      expect(encodeProbability(p)).toBe(c);
      previous = p;
    }
  });

  it('has exact ends: 1 ↔ 0 and 0 ↔ 65535', () => {
    expect(encodeProbability(1)).toBe(0);
    expect(encodeProbability(1.0001)).toBe(0);
    expect(decodeProbability(0)).toBe(1);
    expect(encodeProbability(0)).toBe(ZERO_CODE);
    expect(decodeProbability(ZERO_CODE)).toBe(0);
    expect(encodeProbability(Number.MIN_VALUE)).toBeLessThan(ZERO_CODE);
    expect(decodeProbabilities(Uint16Array.of(0, ZERO_CODE))).toEqual(Float32Array.of(1, 0));
  });

  it('matches the documented examples', () => {
    expect(encodeProbability(0.5)).toBe(36);
    expect(Array.from(encodeProbabilities(Float32Array.of(0.9, 0.05)))).toEqual([5, 154]);
  });

  it('decodes in bulk exactly like one at a time, rounded to float32', () => {
    const codes = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const bulk = decodeProbabilities(codes);
    for (let c = 0; c < 65536; c++) expect(bulk[c]).toBe(Math.fround(decodeProbability(c)));
  });

  it('refuses values that are not probabilities or codes', () => {
    for (const p of [-0.1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) expect(code(() => encodeProbability(p))).toBe('E_USAGE');
    for (const c of [-1, 65536, 1.5, Number.NaN]) expect(code(() => decodeProbability(c))).toBe('E_USAGE');
    expect(code(() => encodeProbabilities(Float32Array.of(1), new Uint16Array(2)))).toBe('E_USAGE');
    expect(code(() => decodeProbabilities(Uint16Array.of(1), new Float32Array(2)))).toBe('E_USAGE');
  });
});

describe('codecDescription', () => {
  it('is the object written into the manifest', () => {
    expect(codecDescription(5, 'marginal')).toEqual({ name: 'topk-log16', topK: 5, stepLn: 0.0195, target: 'marginal' });
    expect(Object.keys(codecDescription(10, 'renorm'))).toEqual(['name', 'topK', 'stepLn', 'target']);
    expect(code(() => codecDescription(0, 'marginal'))).toBe('E_USAGE');
    expect(code(() => codecDescription(5, 'hard' as 'marginal'))).toBe('E_USAGE');
  });
});

describe('denseTarget', () => {
  it('matches the documented examples', () => {
    expectValues(denseTarget(Uint32Array.of(2, 0), Float32Array.of(0.6, 0.2), 4, 'marginal'), [0.2, 0.1, 0.6, 0.1]);
    expectValues(denseTarget(Uint32Array.of(2, 0), Float32Array.of(0.6, 0.2), 4, 'renorm'), [0.25, 0, 0.75, 0]);
  });

  it('gives rows that sum to 1 in both modes, for many rows at once', () => {
    const next = random(5);
    const rows = 64;
    const numClasses = 1000;
    for (const k of [1, 5, 10]) {
      const logits = Float32Array.from({ length: rows * numClasses }, () => (next() - 0.5) * 12);
      const probs = toProbabilities(logits, rows, numClasses, { outputs: 'logits', temperature: 1 });
      const best = topK(probs, rows, numClasses, k);
      const stored = decodeProbabilities(encodeProbabilities(best.probs));
      for (const mode of ['marginal', 'renorm'] as const) {
        const out = denseTarget(best.classes, stored, numClasses, mode, new Float32Array(rows * numClasses));
        const exact = denseTarget(best.classes, best.probs, numClasses, mode, new Float32Array(rows * numClasses));
        for (const sum of rowSums(exact, numClasses)) expect(sum).toBeCloseTo(1, 4);
        for (const sum of rowSums(out, numClasses)) expect(Math.abs(sum - 1)).toBeLessThan(mode === 'renorm' ? 1e-5 : 0.01);
        for (let row = 0; row < rows; row++) {
          const first = denseTarget(best.classes.subarray(row * k, row * k + k), stored.subarray(row * k, row * k + k), numClasses, mode);
          expect(first).toEqual(out.subarray(row * numClasses, (row + 1) * numClasses));
        }
      }
    }
  });

  it('spreads the leftover evenly over the other classes (marginal)', () => {
    const out = denseTarget(Uint32Array.of(3, 1), Float32Array.of(0.5, 0.3), 5, 'marginal');
    expectValues(out, [0.2 / 3, 0.3, 0.2 / 3, 0.5, 0.2 / 3]);
  });

  it('drops the leftover when k = C', () => {
    const out = denseTarget(Uint32Array.of(1, 2, 0), Float32Array.of(0.5, 0.3, 0.1), 3, 'marginal');
    expectValues(out, [0.1, 0.5, 0.3]);
    const renorm = denseTarget(Uint32Array.of(1, 2, 0), Float32Array.of(0.5, 0.3, 0.1), 3, 'renorm');
    expect(rowSums(renorm, 3)[0]).toBeCloseTo(1, 6);
  });

  it('handles k = 1', () => {
    expectValues(denseTarget(Uint32Array.of(2), Float32Array.of(0.7), 4, 'marginal'), [0.1, 0.1, 0.7, 0.1]);
    expect(Array.from(denseTarget(Uint32Array.of(2), Float32Array.of(0.7), 4, 'renorm'))).toEqual([0, 0, 1, 0]);
  });

  it('clamps the leftover at 0 when quantisation pushed the top-k sum above 1', () => {
    const out = denseTarget(Uint32Array.of(0, 1), Float32Array.of(0.805, 0.2), 4, 'marginal');
    expect(out[2]).toBe(0);
    expect(out[3]).toBe(0);
  });

  it('makes an all-zero row uniform over its classes (renorm)', () => {
    expect(Array.from(denseTarget(Uint32Array.of(1, 3), Float32Array.of(0, 0), 4, 'renorm'))).toEqual([0, 0.5, 0, 0.5]);
  });

  it('refuses repeated classes, out-of-range classes and a batch without `out`', () => {
    expect(code(() => denseTarget(Uint32Array.of(1, 1), Float32Array.of(0.5, 0.2), 4, 'marginal'))).toBe('E_USAGE');
    expect(code(() => denseTarget(Uint32Array.of(1, 4), Float32Array.of(0.5, 0.2), 4, 'marginal'))).toBe('E_USAGE');
    // Two rows of top-2 passed as if they were one row of top-4.
    expect(code(() => denseTarget(Uint32Array.of(0, 1, 2, 3), Float32Array.of(0.9, 0.05, 0.8, 0.1), 10, 'marginal'))).toBe('E_USAGE');
    expect(code(() => denseTarget(Uint32Array.of(0, 1, 2), Float32Array.of(0.5, 0.2, 0.1), 4, 'marginal', new Float32Array(8)))).toBe('E_USAGE');
    expect(code(() => denseTarget(Uint32Array.of(0), Float32Array.of(0.5, 0.2), 4, 'marginal'))).toBe('E_USAGE');
    expect(code(() => denseTarget(Uint32Array.of(0), Float32Array.of(0.5), 4, 'soft' as 'marginal'))).toBe('E_USAGE');
    expect(code(() => denseTarget(Uint32Array.of(0), Float32Array.of(Number.NaN), 4, 'marginal'))).toBe('E_USAGE');
  });
});
