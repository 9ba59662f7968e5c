import { describe, expect, it } from 'vitest';
import { defaultSamplerOptions, sampleCrop, type SamplerOptions } from '../../src/crop/sampler.js';

const options: SamplerOptions = { ...defaultSamplerOptions, seed: 11 };

describe('RandomResizedCrop sampler', () => {
  it('keeps every box inside the image and within the scale and ratio ranges', () => {
    for (let image = 0; image < 300; image++) {
      const width = 100 + ((image * 37) % 400);
      const height = 80 + ((image * 53) % 300);
      const box = sampleCrop(width, height, options, image, 0, 0);
      expect(box.top).toBeGreaterThanOrEqual(0);
      expect(box.left).toBeGreaterThanOrEqual(0);
      expect(box.top + box.height).toBeLessThanOrEqual(height);
      expect(box.left + box.width).toBeLessThanOrEqual(width);
      const area = (box.width * box.height) / (width * height);
      // Rounding of w and h moves the area a little beyond the drawn fraction.
      expect(area).toBeGreaterThan(0.08 * 0.9);
      expect(area).toBeLessThanOrEqual(1);
      const ratio = box.width / box.height;
      if (box.width !== width || box.height !== height) {
        expect(ratio).toBeGreaterThan(0.75 * 0.9);
        expect(ratio).toBeLessThan((4 / 3) * 1.1);
      }
    }
  });

  it('depends only on the seed, the counters and the image size, not on call order', () => {
    const forward = Array.from({ length: 40 }, (_, i) => sampleCrop(500, 375, options, i, i % 3, i % 4));
    const backward = Array.from({ length: 40 }, (_, j) => 39 - j).map((i) => sampleCrop(500, 375, options, i, i % 3, i % 4)).reverse();
    expect(backward).toEqual(forward);
    expect(sampleCrop(500, 375, { ...options, seed: 12 }, 0, 0, 0)).not.toEqual(sampleCrop(500, 375, options, 0, 0, 0));
  });

  it('falls back to a centre crop clamped to the ratio range when no try fits', () => {
    // A 1000×10 strip: no box of area ≥ 90% with ratio ≤ 4/3 fits, so the fallback runs.
    const strip = sampleCrop(1000, 10, { ...options, scale: [0.9, 1] }, 0, 0, 0);
    expect(strip).toMatchObject({ height: 10, width: 13, top: 0, left: Math.floor((1000 - 13) / 2) });
    const tall = sampleCrop(10, 1000, { ...options, scale: [0.9, 1] }, 0, 0, 0);
    expect(tall).toMatchObject({ width: 10, height: 13, left: 0 });
  });

  it('flips with the requested probability, and never or always at 0 and 1', () => {
    const count = (p: number) => Array.from({ length: 4000 }, (_, i) => sampleCrop(300, 300, { ...options, flip: p }, i, 0, 0)).filter((b) => b.flip).length;
    expect(count(0)).toBe(0);
    expect(count(1)).toBe(4000);
    expect(Math.abs(count(0.5) - 2000)).toBeLessThan(150);
  });

  it('draws the flip independently of the box', () => {
    const a = sampleCrop(300, 300, { ...options, flip: 0.5 }, 5, 1, 2);
    const b = sampleCrop(300, 300, { ...options, flip: 0.5, scale: [0.5, 0.6] }, 5, 1, 2);
    expect(b.flip).toBe(a.flip);
  });
});
