import { describe, expect, it } from 'vitest';
import type { CropSpec } from '../../src/crop/box.js';
import { toRgb, type RgbImage } from '../../src/dataset/image.js';
import { coefficients, PRECISION_BITS } from '../../src/crop/render-reference.js';
import { loadWasmRenderer } from '../../src/crop/render-wasm.js';
import { renderBytes, renderCrop, renderCropReference, renderNormalized, rendererBackend, ringRenderer, type Interpolation } from '../../src/crop/render.js';
import { defaultSamplerOptions, sampleCrop } from '../../src/crop/sampler.js';
import { imagenetNormalization, normalizationCoefficients, writeBytes, writeNormalized, type Normalization } from '../../src/crop/tensor.js';
import { isFkdError } from '../../src/errors.js';
import type { WasmApi } from '../../src/wasm-api.js';
import type { Layout } from '../../src/crop/tensor.js';
import { seededRandom } from '../helpers/random.js';

// The wasm renderer (src/crop/wasm/render.c) must write the reference's bytes for every
// input: labels made on one machine are replayed by the loader on another.

/** Integers in [0, n) from a seeded stream, so every failure is reproducible. */
function generator(seed: number): (n: number) => number {
  const random = seededRandom(seed);
  return (n) => Math.floor(random() * n);
}

type Content = 'noise' | 'binary' | 'gradient' | 'checker';

/** Binary noise and checkers drive bicubic's negative lobes into both clamps. */
function makeImage(width: number, height: number, content: Content, seed: number): RgbImage {
  const rand = generator(seed);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        if (content === 'noise') data[i] = rand(256);
        else if (content === 'binary') data[i] = rand(2) * 255;
        else if (content === 'gradient') data[i] = Math.floor(((x + y + c * 40) * 255) / (width + height + 80));
        else data[i] = ((x >> c) + y) % 2 === 0 ? 255 : 0;
      }
    }
  }
  return { data, width, height };
}

const same = (a: Uint8Array | Float32Array, b: Uint8Array | Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function describeCase(image: RgbImage, crop: CropSpec, size: number, interpolation: Interpolation): string {
  return `${image.width}×${image.height} box (top ${crop.top}, left ${crop.left}, ${crop.width}×${crop.height}, flip ${crop.flip}) → ${size} ${interpolation}`;
}

function expectIdentical(image: RgbImage, crop: CropSpec, size: number, interpolation: Interpolation, out?: Uint8Array): void {
  const reference = renderCropReference(image, crop, size, interpolation);
  const fast = renderCrop(image, crop, size, interpolation, out);
  if (out) expect(fast).toBe(out);
  expect(same(fast, reference), describeCase(image, crop, size, interpolation)).toBe(true);
}

const contents: Content[] = ['noise', 'binary', 'gradient', 'checker'];
const shapes: [number, number][] = [
  [1, 1], [1, 300], [300, 1], [2, 3], [13, 7], [97, 61], [500, 375], [375, 500], [640, 480], [1000, 40], [40, 1000], [333, 222], [257, 129],
];
const pool = shapes.map(([w, h], i) => makeImage(w, h, contents[i % contents.length]!, 1000 + i));

function randomCase(rand: (n: number) => number): { image: RgbImage; crop: CropSpec; size: number; interpolation: Interpolation } {
  const image = pool[rand(pool.length)]!;
  const { width: W, height: H } = image;
  const flip = rand(2) === 1;
  const kind = rand(20);
  let box: { top: number; left: number; height: number; width: number };
  if (kind < 7) {
    const width = 1 + rand(W);
    const height = 1 + rand(H);
    box = { top: rand(H - height + 1), left: rand(W - width + 1), width, height };
  } else if (kind < 9) {
    box = { top: 0, left: 0, width: W, height: H };
  } else if (kind < 11) {
    box = { top: rand(H), left: rand(W), width: 1, height: 1 };
  } else if (kind < 13) {
    // A one-pixel strip: the most extreme aspect ratio the image allows.
    box = rand(2) === 0 ? { top: rand(H), left: 0, width: W, height: 1 } : { top: 0, left: rand(W), width: 1, height: H };
  } else if (kind < 16) {
    // Touching the right and bottom edges, where the tap window is shifted inside the image.
    const width = 1 + rand(W);
    const height = 1 + rand(H);
    box = { top: H - height, left: W - width, width, height };
  } else {
    const spec = sampleCrop(W, H, { ...defaultSamplerOptions, seed: rand(1000) }, rand(1 << 20), 0, rand(16));
    box = { top: spec.top, left: spec.left, width: spec.width, height: spec.height };
  }
  const size = rand(10) === 0 ? 1 + rand(15) : 16 + rand(305);
  return { image, crop: { ...box, flip }, size, interpolation: rand(2) === 0 ? 'bilinear' : 'bicubic' };
}

describe('wasm crop renderer', () => {
  it('is the backend in use here (Node 20 has WebAssembly SIMD), so the parity tests below test it', () => {
    expect(rendererBackend()).toEqual({ kind: 'wasm' });
  });

  for (const seed of [1, 2, 3, 4]) {
    it(`writes the reference's bytes for 700 random boxes, images, sizes and filters (seed ${seed})`, () => {
      const rand = generator(seed);
      for (let n = 0; n < 700; n++) {
        const { image, crop, size, interpolation } = randomCase(rand);
        const mode = rand(3);
        const bytes = size * size * 3;
        // No buffer, an exact buffer, or a view at an odd offset into a larger one.
        const out = mode === 0 ? undefined : mode === 1 ? new Uint8Array(bytes) : new Uint8Array(bytes + 9).subarray(5, 5 + bytes);
        expectIdentical(image, crop, size, interpolation, out);
      }
    });
  }

  it('matches on strong downscales: 2000-px boxes to 16 px and less', () => {
    const big = makeImage(2000, 1500, 'noise', 7);
    const stripes = makeImage(2000, 1500, 'checker', 8);
    for (const image of [big, stripes]) {
      for (const interpolation of ['bilinear', 'bicubic'] as const) {
        for (const flip of [false, true]) {
          expectIdentical(image, { top: 0, left: 0, width: 2000, height: 1500, flip }, 16, interpolation);
          expectIdentical(image, { top: 0, left: 0, width: 2000, height: 1500, flip }, 1, interpolation);
          expectIdentical(image, { top: 700, left: 0, width: 2000, height: 30, flip }, 16, interpolation);
          expectIdentical(image, { top: 0, left: 1990, width: 10, height: 1500, flip }, 37, interpolation);
          expectIdentical(image, { top: 11, left: 3, width: 1777, height: 1333, flip }, 224, interpolation);
        }
      }
    }
  });

  it('matches on strong upscales: tiny boxes to 320 px', () => {
    const image = makeImage(40, 30, 'binary', 9);
    for (const interpolation of ['bilinear', 'bicubic'] as const) {
      for (const flip of [false, true]) {
        for (const [width, height] of [[1, 1], [2, 2], [3, 1], [1, 5], [8, 5], [40, 30]] as const) {
          expectIdentical(image, { top: 30 - height, left: 40 - width, width, height, flip }, 320, interpolation);
          expectIdentical(image, { top: 0, left: 0, width, height, flip }, 319, interpolation);
        }
      }
    }
  });

  it('reuses a copied image only while it is the same image with the same data', () => {
    const a = makeImage(120, 80, 'noise', 21);
    const b = makeImage(120, 80, 'noise', 22);
    const crop = { top: 3, left: 5, width: 100, height: 70, flip: true };
    for (let round = 0; round < 3; round++) {
      expectIdentical(a, crop, 50, 'bicubic');
      expectIdentical(a, crop, 50, 'bicubic');
      expectIdentical(b, crop, 50, 'bicubic');
    }
    // Same object, new pixel array.
    const c = { ...a };
    expectIdentical(c, crop, 50, 'bilinear');
    c.data = makeImage(120, 80, 'binary', 23).data;
    expectIdentical(c, crop, 50, 'bilinear');
    // Same pixel array read with another shape.
    const reshaped = { data: a.data, width: 80, height: 120 };
    expectIdentical(a, { top: 0, left: 0, width: 80, height: 80, flip: false }, 64, 'bilinear');
    expectIdentical(reshaped, { top: 0, left: 0, width: 80, height: 80, flip: false }, 64, 'bilinear');
    // A view into a larger buffer, at an odd offset.
    const backing = new Uint8Array(a.data.length + 13);
    backing.set(a.data, 7);
    expectIdentical({ data: backing.subarray(7, 7 + a.data.length), width: 120, height: 80 }, crop, 50, 'bicubic');
  });

  it('keeps giving the reference bytes after linear memory grows for a larger image', () => {
    const small = makeImage(64, 48, 'gradient', 31);
    const large = makeImage(2400, 1800, 'noise', 32);
    const crop = { top: 2, left: 1, width: 60, height: 40, flip: false };
    expectIdentical(small, crop, 96, 'bicubic');
    expectIdentical(large, { top: 100, left: 200, width: 2100, height: 1600, flip: true }, 300, 'bicubic');
    expectIdentical(small, crop, 96, 'bicubic');
    expectIdentical(large, crop, 320, 'bilinear');
  });

  it('starts over with fresh memory after a huge image, and still matches', () => {
    const { renderer } = loadWasmRenderer({ shrinkAbove: 4 * 2 ** 20 });
    expect(renderer).not.toBeNull();
    const large = makeImage(1600, 1200, 'noise', 33);
    const small = makeImage(64, 48, 'binary', 34);
    const check = (image: RgbImage, crop: CropSpec, size: number): void => {
      const out = new Uint8Array(size * size * 3);
      expect(renderer!.renderCrop(image, crop, size, 'bicubic', out)).toBe(true);
      expect(same(out, renderCropReference(image, crop, size, 'bicubic')), describeCase(image, crop, size, 'bicubic')).toBe(true);
    };
    check(small, { top: 0, left: 0, width: 64, height: 48, flip: false }, 32);
    check(large, { top: 5, left: 9, width: 1500, height: 1100, flip: true }, 224);
    expect(renderer!.memoryBytes).toBeGreaterThan(4 * 2 ** 20);
    check(small, { top: 1, left: 2, width: 50, height: 40, flip: true }, 100);
    expect(renderer!.memoryBytes).toBeLessThan(2 ** 20);
    check(large, { top: 0, left: 0, width: 1600, height: 1200, flip: false }, 64);
  });

  const norms: Normalization[] = [imagenetNormalization, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, { mean: [0.1, 0.9, 0.33], std: [0.07, 1.3, 0.3333] }];
  for (const layout of ['nchw', 'nhwc'] as const satisfies readonly Layout[]) {
    it(`renderNormalized is bit-identical to renderCropReference + writeNormalized (${layout})`, () => {
      const rand = generator(layout === 'nchw' ? 41 : 42);
      for (let n = 0; n < 400; n++) {
        const { image, crop, size, interpolation } = randomCase(rand);
        const norm = norms[rand(norms.length)]!;
        const slots = 3;
        const index = rand(slots);
        const values = 3 * size * size;
        const expected = new Float32Array(slots * values).fill(-7.25);
        writeNormalized(renderCropReference(image, crop, size, interpolation), size, expected, index, layout, norm);
        const actual = new Float32Array(slots * values).fill(-7.25);
        renderNormalized(image, crop, size, interpolation, actual, index, layout, norm);
        expect(same(actual, expected), `${describeCase(image, crop, size, interpolation)}, slot ${index}`).toBe(true);
      }
    });
  }

  it('normalises with writeNormalized\'s own float64 constants, rounded once to float32 (what wasm/render.c computes)', () => {
    for (const norm of norms) {
      const coefficients = normalizationCoefficients(norm);
      const pixel = new Uint8Array(3);
      const value = new Float32Array(3);
      for (let v = 0; v < 256; v++) {
        pixel.fill(v);
        writeNormalized(pixel, 1, value, 0, 'nhwc', norm);
        for (let c = 0; c < 3; c++) expect(Object.is(value[c], Math.fround(v * coefficients[c]! - coefficients[3 + c]!))).toBe(true);
      }
    }
  });

  it('renderNormalized covers every byte value in every channel and both layouts, plane sizes on and off the 16-pixel vectors', () => {
    // Each pixel value 0..255 in each channel, at sizes whose planes end mid-vector (scalar tails).
    for (const size of [16, 17, 23, 31]) {
      const data = new Uint8Array(size * size * 3);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 4)) & 255;
      const image = { data, width: size, height: size };
      const crop = { top: 0, left: 0, width: size, height: size, flip: false };
      for (const layout of ['nchw', 'nhwc'] as const) {
        for (const norm of norms) {
          const expected = new Float32Array(3 * size * size);
          writeNormalized(renderCropReference(image, crop, size, 'bilinear'), size, expected, 0, layout, norm);
          const actual = new Float32Array(3 * size * size);
          renderNormalized(image, crop, size, 'bilinear', actual, 0, layout, norm);
          expect(same(actual, expected), `${size} px ${layout}`).toBe(true);
        }
      }
    }
  });

  it('renderBytes writes renderCrop + writeBytes\'s bytes in both layouts, into any slot, plane sizes on and off the 16-pixel vectors', () => {
    const next = generator(77);
    for (const size of [1, 5, 16, 17, 23, 31, 224]) {
      const image = pool[next(pool.length)]!;
      const width = 1 + next(image.width);
      const height = 1 + next(image.height);
      const crop = { top: next(image.height - height + 1), left: next(image.width - width + 1), width, height, flip: next(2) === 1 };
      const values = 3 * size * size;
      for (const layout of ['nchw', 'nhwc'] as const) {
        const expected = new Uint8Array(3 * values);
        writeBytes(renderCropReference(image, crop, size, 'bilinear'), size, expected, 1, layout);
        const actual = new Uint8Array(3 * values);
        renderBytes(image, crop, size, 'bilinear', actual, 1, layout);
        expect(same(actual, expected), `${describeCase(image, crop, size, 'bilinear')} ${layout}`).toBe(true);
      }
    }
    expect(() => renderBytes(pool[0]!, { top: 0, left: 0, width: 1, height: 1, flip: false }, 4, 'bilinear', new Uint8Array(47), 0, 'nchw')).toThrow(/does not fit/);
  });

  it('ringRenderer writes into a shared ring memory the values renderNormalized and renderBytes write, and declines an image its region cannot hold', () => {
    const { Memory } = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const memory = new Memory({ initial: 64, maximum: 64, shared: true });
    const slotAt = 4096; // a ring slot, before the region
    const region = { memory, start: 2 ** 20, end: 4 * 2 ** 20 };
    const ring = ringRenderer(region)!;
    expect(ring).not.toBeNull();
    const next = generator(5);
    for (let trial = 0; trial < 12; trial++) {
      const image = pool[next(pool.length)]!;
      if (image.width * image.height * 4 > 2 ** 20) continue;
      const width = 1 + next(image.width);
      const height = 1 + next(image.height);
      const crop = { top: next(image.height - height + 1), left: next(image.width - width + 1), width, height, flip: next(2) === 1 };
      const size = 1 + next(64);
      const values = 3 * size * size;
      const layout = next(2) === 0 ? 'nchw' : 'nhwc';
      const interpolation = next(2) === 0 ? 'bilinear' : 'bicubic';
      const floats = new Float32Array(values);
      renderNormalized(image, crop, size, interpolation, floats, 0, layout, imagenetNormalization);
      expect(ring.render(image, crop, size, interpolation, 'float32', slotAt, layout, imagenetNormalization)).toBe(true);
      expect(same(new Float32Array(memory.buffer, slotAt, values), floats), describeCase(image, crop, size, interpolation)).toBe(true);
      const bytes = new Uint8Array(values);
      renderBytes(image, crop, size, interpolation, bytes, 0, layout);
      expect(ring.render(image, crop, size, interpolation, 'uint8', slotAt, layout, imagenetNormalization)).toBe(true);
      expect(same(new Uint8Array(memory.buffer, slotAt, values), bytes), `${describeCase(image, crop, size, interpolation)} uint8 ${layout}`).toBe(true);
    }
    // 640×480 RGB does not fit a 64 KiB region: nothing is written, and the caller copies instead.
    const small = ringRenderer({ memory, start: 2 ** 20, end: 2 ** 20 + 65536 })!;
    const big = pool.find((image) => image.width === 640)!;
    new Uint8Array(memory.buffer, slotAt, 64).fill(7);
    expect(small.render(big, { top: 0, left: 0, width: 640, height: 480, flip: false }, 8, 'bilinear', 'uint8', slotAt, 'nhwc', imagenetNormalization)).toBe(false);
    expect(new Uint8Array(memory.buffer, slotAt, 64).every((v) => v === 7)).toBe(true);
    expect(() => ring.render(big, { top: 400, left: 0, width: 10, height: 100, flip: false }, 8, 'bilinear', 'uint8', slotAt, 'nhwc', imagenetNormalization)).toThrow(/outside/);
  });

  it('takes RGBX images (the in-thread JPEG decoder\'s) and renders the bytes of their RGB twin, in both renderers', () => {
    const next = generator(41);
    // Pixel counts on and off the 4-pixel step of the in-place compaction.
    for (const [width, height] of [[37, 23], [64, 48], [5, 3], [1, 1]] as const) {
      const rgb = makeImage(width, height, 'noise', width);
      const rgbx = new Uint8Array(width * height * 4);
      for (let p = 0; p < width * height; p++) {
        rgbx.set(rgb.data.subarray(3 * p, 3 * p + 3), 4 * p);
        rgbx[4 * p + 3] = next(256); // the padding byte is meaningless and must stay unread
      }
      const padded = { data: rgbx, width, height, layout: 'rgbx' as const };
      for (let trial = 0; trial < 6; trial++) {
        const boxWidth = 1 + next(width);
        const boxHeight = 1 + next(height);
        const crop = { top: next(height - boxHeight + 1), left: next(width - boxWidth + 1), width: boxWidth, height: boxHeight, flip: trial % 2 === 1 };
        const size = 1 + next(40);
        const expected = renderCropReference(rgb, crop, size, 'bilinear');
        expect(Buffer.compare(Buffer.from(renderCrop(padded, crop, size, 'bilinear')), Buffer.from(expected)), `${width}×${height}`).toBe(0);
        const floats = new Float32Array(3 * size * size);
        const reference = new Float32Array(3 * size * size);
        renderNormalized(padded, crop, size, 'bilinear', floats, 0, 'nchw', imagenetNormalization);
        writeNormalized(expected, size, reference, 0, 'nchw', imagenetNormalization);
        expect(floats).toEqual(reference);
      }
      // The reference renderer (no SIMD) takes it through toRgb.
      const crop = { top: 0, left: 0, height, width, flip: false };
      expect(Buffer.compare(Buffer.from(renderCropReference(toRgb(padded), crop, 7, 'bicubic')), Buffer.from(renderCropReference(rgb, crop, 7, 'bicubic')))).toBe(0);
    }
  });

  it('refuses what the reference refuses, and batch slots that do not exist', () => {
    const image = makeImage(30, 20, 'noise', 51);
    const outside = { top: 10, left: 0, width: 10, height: 11, flip: false };
    for (const call of [() => renderCrop(image, outside, 16, 'bilinear'), () => renderNormalized(image, outside, 16, 'bilinear', new Float32Array(3 * 256), 0, 'nchw', imagenetNormalization)]) {
      try {
        call();
        expect.unreachable();
      } catch (error) {
        expect(isFkdError(error, 'E_DATASET_MISMATCH')).toBe(true);
      }
    }
    const crop = { top: 0, left: 0, width: 10, height: 10, flip: false };
    expect(() => renderNormalized(image, crop, 16, 'bilinear', new Float32Array(2 * 3 * 256), 2, 'nchw', imagenetNormalization)).toThrow(RangeError);
    expect(() => renderNormalized(image, crop, 16, 'bilinear', new Float32Array(3 * 256 - 1), 0, 'nhwc', imagenetNormalization)).toThrow(RangeError);
    expect(() => renderCrop(image, crop, 16, 'bilinear', new Uint8Array(3 * 256 - 1))).toThrow(RangeError);
  });

  it('never leaves int32 in its sums, so i32 lanes hold every sum exactly (the reference sums in float64)', () => {
    // With weights normalised to 2^22, a sum is at most 255 × (sum of positive weights) + HALF
    // and at least -255 × (sum of negative weights). Wrapping i32 arithmetic would still agree
    // with the reference's ToInt32 before `>> 22`; this pins that no sum even comes close.
    const rand = generator(61);
    const sides = [1, 2, 3, 5, 16, 17, 100, 224, 225, 320, 475, 500, 1000, 2000, 4000];
    const pairs: [number, number][] = [];
    for (const a of sides) for (const b of sides) if (b <= 512) pairs.push([a, b]);
    for (let n = 0; n < 300; n++) pairs.push([1 + rand(3000), 1 + rand(400)]);
    let worst = 0;
    for (const [inSize, outSize] of pairs) {
      for (const interpolation of ['bilinear', 'bicubic'] as const) {
        const { taps, weights } = coefficients(inSize, outSize, interpolation);
        for (let out = 0; out < outSize; out++) {
          let positive = 0;
          let negative = 0;
          for (let k = 0; k < taps; k++) {
            const w = weights[out * taps + k]!;
            if (w > 0) positive += w;
            else negative -= w;
          }
          worst = Math.max(worst, 255 * positive + (1 << (PRECISION_BITS - 1)), 255 * negative);
        }
      }
    }
    expect(worst).toBeLessThan(2 ** 31);
    expect(worst / 2 ** 31).toBeLessThan(0.7);
  });
});
