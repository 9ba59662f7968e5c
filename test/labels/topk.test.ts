import { describe, expect, it } from 'vitest';
import { topK } from '../../src/labels/topk.js';
import { seededRandom as random } from '../helpers/random.js';
import { errorCode as code } from '../helpers/errors.js';


/** Reference: sort every class by (probability descending, class ascending). */
function reference(row: Float32Array, k: number): { classes: number[]; probs: number[] } {
  const order = Array.from(row.keys()).sort((a, b) => (row[b] as number) - (row[a] as number) || a - b);
  const classes = order.slice(0, k);
  return { classes, probs: classes.map((c) => row[c] as number) };
}


describe('topK', () => {
  it('returns the k largest in descending order', () => {
    const result = topK(Float32Array.of(0.1, 0.5, 0.05, 0.35, 0, 0.6, 0.2, 0.2), 2, 4, 2);
    expect(Array.from(result.classes)).toEqual([1, 3, 1, 2]);
    expect(Array.from(result.probs)).toEqual([0.5, 0.35, 0.6, 0.2].map(Math.fround));
  });

  it('breaks ties by the lower class index', () => {
    const result = topK(Float32Array.of(0.1, 0.4, 0.1, 0.4), 1, 4, 4);
    expect(Array.from(result.classes)).toEqual([1, 3, 0, 2]);
    const flat = topK(new Float32Array(10).fill(0.1), 1, 10, 3);
    expect(Array.from(flat.classes)).toEqual([0, 1, 2]);
  });

  it.each([1, 2, 5, 10, 32, 33, 64, 100, 200])('agrees with a full sort at k = %i, with many ties', (k) => {
    const next = random(k);
    const rows = 40;
    const classes = 200;
    // Few distinct values make ties the rule rather than the exception.
    const probs = Float32Array.from({ length: rows * classes }, () => Math.floor(next() * 12) / 64);
    const result = topK(probs, rows, classes, k);
    for (let row = 0; row < rows; row++) {
      const want = reference(probs.subarray(row * classes, (row + 1) * classes), k);
      expect(Array.from(result.classes.subarray(row * k, (row + 1) * k))).toEqual(want.classes);
      expect(Array.from(result.probs.subarray(row * k, (row + 1) * k))).toEqual(want.probs);
    }
  });

  it('handles k = numClasses and a single class', () => {
    expect(Array.from(topK(Float32Array.of(0.2, 0.8), 1, 2, 2).classes)).toEqual([1, 0]);
    expect(Array.from(topK(Float32Array.of(1, 1), 2, 1, 1).classes)).toEqual([0, 0]);
  });

  it('handles zero rows', () => {
    const result = topK(new Float32Array(0), 0, 5, 3);
    expect(result.classes).toHaveLength(0);
    expect(result.probs).toHaveLength(0);
  });

  it('refuses k outside 1..numClasses and mismatched input with E_USAGE', () => {
    const probs = new Float32Array(8).fill(0.25);
    expect(code(() => topK(probs, 2, 4, 5))).toBe('E_USAGE');
    expect(code(() => topK(probs, 2, 4, 0))).toBe('E_USAGE');
    expect(code(() => topK(probs, 2, 4, 1.5))).toBe('E_USAGE');
    expect(code(() => topK(probs, 3, 4, 2))).toBe('E_USAGE');
    expect(code(() => topK(Float32Array.of(0.5, Number.NaN), 1, 2, 1))).toBe('E_USAGE');
    expect(code(() => topK(new Float32Array(100).fill(Number.NaN), 1, 100, 50))).toBe('E_USAGE');
  });
});
