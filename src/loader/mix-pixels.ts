import type { Layout } from '../crop/tensor.js';
import type { PixelBox } from './mix-draw.js';
import { mixKernel } from './mix-kernel.js';

/** Where crops live: `images` holds crops of `3 × side × side` values in `layout`. */
export interface CropArray {
  images: Float32Array | Uint8Array;
  side: number;
  layout: Layout;
}

/** Steps of λ for uint8 Mixup: λ = w / 256 lets the blend run in integers, exactly. */
export const BYTE_LAMBDA_STEPS = 256;

/**
 * The λ uint8 Mixup uses: the drawn λ rounded to a multiple of 1/256, so that the blend
 * below is exact integer arithmetic. The mix stage records this λ (pixels and targets agree).
 *
 * @example
 * byteLambda(0.3); // 0.30078125 (77/256)
 */
export function byteLambda(lambda: number): number {
  return Math.round(lambda * BYTE_LAMBDA_STEPS) / BYTE_LAMBDA_STEPS;
}

/**
 * Mixup's pixels: crop `index` of `batch` becomes λ·own + (1 − λ)·partner, the partner being
 * crop `from` of `source` (the batch itself when the partner is still unmixed, or the mix
 * stage's copy of it). float32 values are fl(fl(λ'·own) + fl(ρ'·partner)) with λ' = fl(λ) and
 * ρ' = fl(1 − λ), fl rounding to float32. uint8 values need λ on the 1/256 grid
 * (`byteLambda`); the result is then round-half-up(λ·own + (1 − λ)·partner), computed exactly
 * as (w·own + (256 − w)·partner + 128) >> 8. When both crops lie in a ring's wasm memory the
 * SIMD kernel (wasm/mix.c) computes these same values, six times faster; the loops below are
 * its bit-exact twin for every other memory.
 *
 * @example
 * blendCrop(batch, batch.images, 3, 7, 0.7);
 */
export function blendCrop(batch: CropArray, source: Float32Array | Uint8Array, index: number, from: number, lambda: number): void {
  const per = 3 * batch.side * batch.side;
  const own = index * per;
  const other = from * per;
  const images = batch.images;
  // The kernel addresses one memory: both crops must be in the ring's (its scratch included).
  const kernel = source.buffer === images.buffer ? mixKernel(images.buffer) : undefined;
  if (images instanceof Uint8Array) {
    const w = Math.round(lambda * BYTE_LAMBDA_STEPS);
    const rest = BYTE_LAMBDA_STEPS - w;
    if (kernel !== undefined) return kernel.blend_u8(images.byteOffset + own, source.byteOffset + other, per, w);
    for (let v = 0; v < per; v++) images[own + v] = (w * images[own + v]! + rest * source[other + v]! + BYTE_LAMBDA_STEPS / 2) >> 8;
    return;
  }
  const weight = Math.fround(lambda);
  const rest = Math.fround(1 - lambda);
  if (kernel !== undefined) return kernel.blend_f32(images.byteOffset + 4 * own, source.byteOffset + 4 * other, per, weight, rest);
  // Each product is exact in float64 and rounded once; so is their sum, by the store.
  for (let v = 0; v < per; v++) images[own + v] = Math.fround(weight * images[own + v]!) + Math.fround(rest * source[other + v]!);
}

/**
 * CutMix's pixels: copies `box` of crop `from` of `source` onto crop `index` of `batch`,
 * value for value, in either layout and dtype: one native copy per box row (and plane).
 *
 * @example
 * pasteBox(batch, batch.images, 3, 7, { top: 10, left: 20, height: 50, width: 60 });
 */
export function pasteBox(batch: CropArray, source: Float32Array | Uint8Array, index: number, from: number, box: PixelBox): void {
  const side = batch.side;
  const plane = side * side;
  const own = index * 3 * plane;
  const other = from * 3 * plane;
  const images = batch.images;
  // Within one array copyWithin is a memmove; from the copy, set() of a view is a memcpy.
  const copyRun = (offset: number, length: number) => {
    if (source === images) images.copyWithin(own + offset, other + offset, other + offset + length);
    else images.set(source.subarray(other + offset, other + offset + length), own + offset);
  };
  for (let y = box.top; y < box.top + box.height; y++) {
    if (batch.layout === 'nhwc') copyRun((y * side + box.left) * 3, box.width * 3);
    else for (let channel = 0; channel < 3; channel++) copyRun(channel * plane + y * side + box.left, box.width);
  }
}
