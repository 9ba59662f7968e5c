import { FkdError } from '../errors.js';
import type { CropSpec } from './box.js';
import type { RgbImage } from '../dataset/image.js';

export type Interpolation = 'bilinear' | 'bicubic';

/**
 * The reference crop renderer: the definition of the bytes every fkd renderer must produce.
 * `renderCrop` (render.ts) runs the WebAssembly build of this algorithm (wasm/render.c) and
 * falls back to this code; test/crop/render-wasm.test.ts holds the two byte-identical.
 * Change nothing here without changing wasm/render.c the same way (a changed rule also
 * changes every stored label's pixels).
 *
 * Resampling is separable and antialiased: when a crop shrinks, the filter widens with the
 * shrink factor (as PIL and libvips do), so large crops do not alias. Weights are 22-bit
 * fixed point, the horizontal pass rounds to 8 bits, then the vertical pass runs. It is
 * plain integer arithmetic: the same bytes on every CPU.
 */

export const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

interface Filter {
  support: number;
  weight(x: number): number;
}

const filters: Record<Interpolation, Filter> = {
  bilinear: {
    support: 1,
    weight: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  bicubic: {
    support: 2,
    weight: (x) => {
      // Keys cubic with a = -0.5, as PIL uses.
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

/**
 * For each output sample: the first input index and `taps` fixed-point weights. Every
 * sample uses the same number of taps (zero weights pad the short ones, and the window is
 * shifted inside the input at the edges), so the hot loops have no per-sample bounds.
 */
export interface Coefficients {
  first: Int32Array;
  taps: number;
  weights: Int32Array;
}

export function coefficients(inSize: number, outSize: number, interpolation: Interpolation): Coefficients {
  const filter = filters[interpolation];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const bound = Math.ceil(support) * 2 + 1;
  const lows = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const raw = new Float64Array(outSize * bound);
  let taps = 1;
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    const low = Math.max(0, Math.trunc(center - support + 0.5));
    let high = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let k = 0; k < high - low; k++) {
      const w = filter.weight((low + k - center + 0.5) / filterScale);
      raw[out * bound + k] = w;
      total += w;
    }
    // Zero weights at either end cost a multiply per pixel; trim them.
    let skip = 0;
    while (low + skip < high - 1 && raw[out * bound + skip] === 0) skip++;
    while (high - 1 > low + skip && raw[out * bound + high - low - 1] === 0) high--;
    for (let k = 0; k < high - low; k++) raw[out * bound + k] = (raw[out * bound + k]! / total);
    raw.copyWithin(out * bound, out * bound + skip, out * bound + (high - low));
    counts[out] = high - low - skip;
    lows[out] = low + skip;
    taps = Math.max(taps, high - low - skip);
  }
  const first = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  for (let out = 0; out < outSize; out++) {
    // Shift the window left at the right edge so it stays inside the input; the weights move right.
    const start = Math.min(lows[out]!, inSize - taps);
    const shift = lows[out]! - start;
    first[out] = start;
    for (let k = 0; k < counts[out]!; k++) {
      weights[out * taps + shift + k] = Math.round(raw[out * bound + k]! * (1 << PRECISION_BITS));
    }
  }
  return { first, taps, weights };
}

/** Throws E_DATASET_MISMATCH unless the box lies inside the image. */
export function checkCropBox(image: { width: number; height: number }, crop: CropSpec): void {
  const { top, left, height, width } = crop;
  if (top < 0 || left < 0 || height < 1 || width < 1 || top + height > image.height || left + width > image.width) {
    throw new FkdError('E_DATASET_MISMATCH', `Crop box (top ${top}, left ${left}, height ${height}, width ${width}) lies outside the ${image.width}×${image.height} image. The labels were made from a different image.`);
  }
}

/**
 * Renders `crop` of `image` as a `size × size` RGB crop (HWC, uint8), mirrored when
 * `crop.flip` is set, in plain TypeScript. Same contract and bytes as `renderCrop`.
 *
 * @example
 * const pixels = renderCropReference(image, { top: 10, left: 20, height: 100, width: 120, flip: true }, 224, 'bilinear');
 */
export function renderCropReference(image: RgbImage, crop: CropSpec, size: number, interpolation: Interpolation, out?: Uint8Array): Uint8Array {
  checkCropBox(image, crop);
  const { top, left, height, width } = crop;
  const result = out ?? new Uint8Array(size * size * 3);
  const horizontal = coefficients(width, size, interpolation);
  const vertical = coefficients(height, size, interpolation);

  // Only the rows the vertical pass will touch are resampled horizontally.
  const rowLow = vertical.first[0]!;
  const rowHigh = vertical.first[size - 1]! + vertical.taps;
  const rows = rowHigh - rowLow;
  const rowBytes = size * 3;
  // Clamped views saturate to 0..255 on store, which is the rounding rule between passes.
  const temp = new Uint8ClampedArray(rows * rowBytes);
  const target = new Uint8ClampedArray(result.buffer, result.byteOffset, size * size * 3);
  horizontalPass(image.data, image.width * 3, top + rowLow, left, rows, horizontal, crop.flip, size, temp);
  verticalPass(temp, rowLow, vertical, size, rowBytes, target);
  return result;
}

function horizontalPass(source: Uint8Array, stride: number, firstRow: number, left: number, rows: number, coefficients: Coefficients, flip: boolean, size: number, temp: Uint8ClampedArray): void {
  const { first, taps, weights } = coefficients;
  const rowBytes = size * 3;
  for (let y = 0; y < rows; y++) {
    const rowStart = (firstRow + y) * stride + left * 3;
    const tempRow = y * rowBytes;
    for (let x = 0; x < size; x++) {
      let p = rowStart + first[x]! * 3;
      const w = x * taps;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let k = 0; k < taps; k++, p += 3) {
        const weight = weights[w + k]!;
        r += source[p]! * weight;
        g += source[p + 1]! * weight;
        b += source[p + 2]! * weight;
      }
      const t = tempRow + (flip ? size - 1 - x : x) * 3;
      temp[t] = r >> PRECISION_BITS;
      temp[t + 1] = g >> PRECISION_BITS;
      temp[t + 2] = b >> PRECISION_BITS;
    }
  }
}

function verticalPass(temp: Uint8ClampedArray, rowLow: number, coefficients: Coefficients, size: number, rowBytes: number, out: Uint8ClampedArray): void {
  const { first, taps, weights } = coefficients;
  for (let y = 0; y < size; y++) {
    const o = (first[y]! - rowLow) * rowBytes;
    const w = y * taps;
    const outRow = y * rowBytes;
    if (taps === 2) {
      const w0 = weights[w]!;
      const w1 = weights[w + 1]!;
      const o1 = o + rowBytes;
      for (let i = 0; i < rowBytes; i++) out[outRow + i] = (HALF + temp[o + i]! * w0 + temp[o1 + i]! * w1) >> PRECISION_BITS;
    } else if (taps === 4) {
      const w0 = weights[w]!;
      const w1 = weights[w + 1]!;
      const w2 = weights[w + 2]!;
      const w3 = weights[w + 3]!;
      const o1 = o + rowBytes;
      const o2 = o1 + rowBytes;
      const o3 = o2 + rowBytes;
      for (let i = 0; i < rowBytes; i++) {
        out[outRow + i] = (HALF + temp[o + i]! * w0 + temp[o1 + i]! * w1 + temp[o2 + i]! * w2 + temp[o3 + i]! * w3) >> PRECISION_BITS;
      }
    } else {
      for (let i = 0; i < rowBytes; i++) {
        let acc = HALF;
        for (let k = 0, p = o + i; k < taps; k++, p += rowBytes) acc += temp[p]! * weights[w + k]!;
        out[outRow + i] = acc >> PRECISION_BITS;
      }
    }
  }
}
