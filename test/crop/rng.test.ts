import { describe, expect, it } from 'vitest';
import { CounterRandom, cropRandom, keyOf, Stream } from '../../src/crop/rng.js';

describe('counter-based random numbers', () => {
  it('gives the same draws for the same counters, however many times it is asked', () => {
    const a = cropRandom(7, 123, 4, 2, Stream.Box);
    const b = cropRandom(7, 123, 4, 2, Stream.Box);
    const drawsA = Array.from({ length: 20 }, () => a.next());
    const drawsB = Array.from({ length: 20 }, () => b.next());
    expect(drawsA).toEqual(drawsB);
  });

  it('gives unrelated streams for neighbouring counters', () => {
    const keys = new Set<number>();
    for (let image = 0; image < 50; image++) {
      for (let epoch = 0; epoch < 10; epoch++) {
        for (let crop = 0; crop < 4; crop++) keys.add(keyOf(0, image, epoch, crop, 0));
      }
    }
    expect(keys.size).toBe(2000);
    expect(keyOf(1, 0, 0, 0, 0)).not.toBe(keyOf(0, 1, 0, 0, 0));
    expect(keyOf(2 ** 32, 0)).not.toBe(keyOf(0, 0));
  });

  it('draws uniformly in [0, 1)', () => {
    const random = new CounterRandom(keyOf(42));
    const buckets = new Array<number>(10).fill(0);
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = random.next();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      buckets[Math.floor(u * 10)]!++;
    }
    for (const count of buckets) expect(Math.abs(count - n / 10)).toBeLessThan(n / 10 * 0.1);
  });

  it('keeps integer draws inside their bound', () => {
    const random = new CounterRandom(keyOf(3));
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(random.below(5));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
