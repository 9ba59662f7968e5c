import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../../src/dataset/image.js';
import { renderCrop } from '../../src/crop/render.js';
import { isFkdError } from '../../src/errors.js';

function image(width: number, height: number, pixel: (x: number, y: number, c: number) => number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = pixel(x, y, c);
  return { data, width, height };
}

const noisy = image(97, 61, (x, y, c) => (x * 31 + y * 17 + c * 101 + ((x * y) % 13) * 7) % 256);

describe('crop renderer', () => {
  for (const interpolation of ['bilinear', 'bicubic'] as const) {
    it(`returns the crop's own pixels when the size does not change (${interpolation})`, () => {
      const size = 40;
      const out = renderCrop(noisy, { top: 5, left: 9, height: size, width: size, flip: false }, size, interpolation);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          for (let c = 0; c < 3; c++) expect(out[(y * size + x) * 3 + c]).toBe(noisy.data[((y + 5) * noisy.width + x + 9) * 3 + c]);
        }
      }
    });

    it(`renders a flat image as flat at any scale (${interpolation})`, () => {
      const flat = image(50, 30, (_x, _y, c) => [200, 17, 90][c]!);
      for (const size of [7, 30, 111]) {
        const out = renderCrop(flat, { top: 3, left: 4, height: 20, width: 33, flip: true }, size, interpolation);
        for (let i = 0; i < out.length; i += 3) expect([out[i], out[i + 1], out[i + 2]]).toEqual([200, 17, 90]);
      }
    });
  }

  it('mirrors the unflipped rendering exactly when flip is set', () => {
    const box = { top: 2, left: 3, height: 50, width: 70 };
    const size = 33;
    const plain = renderCrop(noisy, { ...box, flip: false }, size, 'bilinear');
    const mirrored = renderCrop(noisy, { ...box, flip: true }, size, 'bilinear');
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) expect(mirrored[(y * size + x) * 3 + c]).toBe(plain[(y * size + (size - 1 - x)) * 3 + c]);
      }
    }
  });

  it('antialiases when shrinking: a one-pixel checkerboard becomes mid grey, not a moiré', () => {
    const checker = image(256, 256, (x, y) => ((x + y) % 2 === 0 ? 255 : 0));
    const out = renderCrop(checker, { top: 0, left: 0, height: 256, width: 256, flip: false }, 60, 'bilinear');
    for (const value of out) expect(Math.abs(value - 127.5)).toBeLessThan(12);
  });

  it('gives identical bytes on every call and writes into a supplied buffer', () => {
    const spec = { top: 1, left: 2, height: 45, width: 80, flip: true };
    const buffer = new Uint8Array(64 * 64 * 3);
    const a = renderCrop(noisy, spec, 64, 'bicubic');
    const b = renderCrop(noisy, spec, 64, 'bicubic', buffer);
    expect(b).toBe(buffer);
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
  });

  it('refuses a box outside the image, which means labels from another image', () => {
    try {
      renderCrop(noisy, { top: 40, left: 0, height: 30, width: 10, flip: false }, 16, 'bilinear');
      expect.unreachable();
    } catch (error) {
      expect(isFkdError(error, 'E_DATASET_MISMATCH')).toBe(true);
    }
  });
});
