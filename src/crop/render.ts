import { FkdError } from '../errors.js';
import type { CropSpec } from './box.js';
import type { RgbImage } from './image.js';

export type Interpolation = 'bilinear' | 'bicubic';

/**
 * The one crop renderer. The labeler feeds the teacher with it and the loader feeds the
 * student with it, so replay is exact because both run this code, not because it matches
 * PyTorch. It is plain integer arithmetic in JS: the same bytes on every CPU, unlike
 * SIMD image libraries whose code paths differ between machines.
 *
 * Resampling is separable and antialiased: when a crop shrinks, the filter widens with the
 * shrink factor (as PIL and libvips do), so large crops do not alias. Weights are 22-bit
 * fixed point, the horizontal pass rounds to 8 bits, then the vertical pass runs.
 */

const PRECISION_BITS = 22;
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

/** For each output sample: first input index, tap count, and fixed-point weights. */
interface Coefficients {
  first: Int32Array;
  count: Int32Array;
  /** Row stride of `weights`: the largest tap count. */
  taps: number;
  weights: Int32Array;
}

function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const row = new Float64Array(taps);
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    let low = Math.max(0, Math.trunc(center - support + 0.5));
    let high = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let k = 0; k < high - low; k++) {
      const w = filter.weight((low + k - center + 0.5) / filterScale);
      row[k] = w;
      total += w;
    }
    // Zero weights at either end cost a multiply each per pixel; drop them.
    let skip = 0;
    while (low + skip < high - 1 && row[skip] === 0) skip++;
    while (high - 1 > low + skip && row[high - low - 1] === 0) high--;
    first[out] = low + skip;
    count[out] = high - low - skip;
    for (let k = skip; k < high - low; k++) {
      weights[out * taps + k - skip] = Math.round((row[k]! / total) * (1 << PRECISION_BITS));
    }
    low += skip;
  }
  return { first, count, taps, weights };
}

function clampByte(value: number): number {
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

/**
 * Renders `crop` of `image` as a `size × size` RGB crop (HWC, uint8), mirrored when
 * `crop.flip` is set. Pass `out` to reuse a buffer.
 *
 * @example
 * const pixels = renderCrop(image, { top: 10, left: 20, height: 100, width: 120, flip: true }, 224, 'bilinear');
 */
export function renderCrop(image: RgbImage, crop: CropSpec, size: number, interpolation: Interpolation, out?: Uint8Array): Uint8Array {
  const { top, left, height, width } = crop;
  if (top < 0 || left < 0 || height < 1 || width < 1 || top + height > image.height || left + width > image.width) {
    throw new FkdError('E_DATASET_MISMATCH', `Crop box (top ${top}, left ${left}, height ${height}, width ${width}) lies outside the ${image.width}×${image.height} image. The labels were made from a different image.`);
  }
  const result = out ?? new Uint8Array(size * size * 3);
  const filter = filters[interpolation];
  const horizontal = coefficients(width, size, filter);
  const vertical = coefficients(height, size, filter);
  const source = image.data;
  const stride = image.width * 3;

  // Only the rows the vertical pass will touch are resampled horizontally.
  const rowLow = vertical.first[0]!;
  const rowHigh = vertical.first[size - 1]! + vertical.count[size - 1]!;
  const rows = rowHigh - rowLow;
  const rowBytes = size * 3;
  const temp = new Uint8Array(rows * rowBytes);
  const hFirst = horizontal.first;
  const hCount = horizontal.count;
  const hTaps = horizontal.taps;
  const hWeights = horizontal.weights;
  for (let y = 0; y < rows; y++) {
    const rowStart = (top + rowLow + y) * stride + left * 3;
    const tempRow = y * rowBytes;
    for (let x = 0; x < size; x++) {
      let p = rowStart + hFirst[x]! * 3;
      let w = x * hTaps;
      const end = w + hCount[x]!;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (; w < end; w++, p += 3) {
        const weight = hWeights[w]!;
        r += source[p]! * weight;
        g += source[p + 1]! * weight;
        b += source[p + 2]! * weight;
      }
      const target = tempRow + (crop.flip ? size - 1 - x : x) * 3;
      temp[target] = clampByte(r >> PRECISION_BITS);
      temp[target + 1] = clampByte(g >> PRECISION_BITS);
      temp[target + 2] = clampByte(b >> PRECISION_BITS);
    }
  }

  const vFirst = vertical.first;
  const vCount = vertical.count;
  const vTaps = vertical.taps;
  const vWeights = vertical.weights;
  const acc = new Float64Array(rowBytes);
  for (let y = 0; y < size; y++) {
    acc.fill(HALF);
    const base = y * vTaps;
    for (let k = 0; k < vCount[y]!; k++) {
      const weight = vWeights[base + k]!;
      const offset = (vFirst[y]! - rowLow + k) * rowBytes;
      for (let i = 0; i < rowBytes; i++) acc[i] = acc[i]! + temp[offset + i]! * weight;
    }
    const outRow = y * rowBytes;
    for (let i = 0; i < rowBytes; i++) result[outRow + i] = clampByte(acc[i]! >> PRECISION_BITS);
  }
  return result;
}
