import { describe, expect, it } from 'vitest';
import { symmetricBeta } from '../../src/crop/beta.js';
import { CounterRandom, keyOf } from '../../src/crop/rng.js';

describe('symmetric Beta draws', () => {
  it.each([0.2, 0.8, 1, 4])('have the mean 1/2 and variance 1/(4(2α + 1)) of Beta(%s, %s) and stay in [0, 1]', (alpha) => {
    const n = 20_000;
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < n; i++) {
      const x = symmetricBeta(new CounterRandom(keyOf(1, i)), alpha);
      expect(x >= 0 && x <= 1).toBe(true);
      sum += x;
      squares += x * x;
    }
    const mean = sum / n;
    const variance = squares / n - mean * mean;
    const want = 1 / (4 * (2 * alpha + 1));
    // Standard error of the mean is sqrt(want / n) ≤ 0.0036; of the variance, a few percent.
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.015);
    expect(Math.abs(variance - want) / want).toBeLessThan(0.06);
  });

  it('is a pure function of its stream', () => {
    expect(symmetricBeta(new CounterRandom(keyOf(3, 4)), 0.8)).toBe(symmetricBeta(new CounterRandom(keyOf(3, 4)), 0.8));
  });
});
