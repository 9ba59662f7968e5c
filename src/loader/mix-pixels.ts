import type { Layout } from '../crop/tensor.js';
import type { PixelBox } from './mix-draw.js';

/** Where crops live: `images` holds crops of `3 × side × side` values in `layout`. */
export interface CropArray {
  images: Float32Array | Uint8Array;
  side: number;
  layout: Layout;
}

/**
 * Mixup's pixels: crop `index` of `batch` becomes λ·own + (1 − λ)·partner, reading the
 * partner from `source` (an unmixed copy of the batch). The sum is taken in float64 and
 * stored once: float32 pixels round to nearest float32; uint8 pixels round half up
 * (`Math.round`), so a blend of two byte values is the nearest byte, ties going up. Layout
 * does not matter: the blend is per value.
 *
 * @example
 * blendCrop(batch, snapshot, 3, 7, 0.7);
 */
export function blendCrop(batch: CropArray, source: Float32Array | Uint8Array, index: number, partner: number, lambda: number): void {
  const per = 3 * batch.side * batch.side;
  const own = index * per;
  const other = partner * per;
  const images = batch.images;
  const rest = 1 - lambda;
  if (images instanceof Uint8Array) {
    for (let v = 0; v < per; v++) images[own + v] = Math.round(lambda * images[own + v]! + rest * source[other + v]!);
    return;
  }
  for (let v = 0; v < per; v++) images[own + v] = lambda * images[own + v]! + rest * source[other + v]!;
}

/**
 * CutMix's pixels: copies `box` of the partner's crop (from `source`, an unmixed copy of the
 * batch) onto crop `index`, value for value, in either layout and dtype.
 *
 * @example
 * pasteBox(batch, snapshot, 3, 7, { top: 10, left: 20, height: 50, width: 60 });
 */
export function pasteBox(batch: CropArray, source: Float32Array | Uint8Array, index: number, partner: number, box: PixelBox): void {
  const side = batch.side;
  const plane = side * side;
  const own = index * 3 * plane;
  const other = partner * 3 * plane;
  const images = batch.images;
  // One run of contiguous values per box row: 3·width interleaved values (nhwc), or width per plane (nchw).
  const copyRun = (offset: number, length: number) => {
    for (let v = 0; v < length; v++) images[own + offset + v] = source[other + offset + v]!;
  };
  for (let y = box.top; y < box.top + box.height; y++) {
    if (batch.layout === 'nhwc') copyRun((y * side + box.left) * 3, box.width * 3);
    else for (let channel = 0; channel < 3; channel++) copyRun(channel * plane + y * side + box.left, box.width);
  }
}
