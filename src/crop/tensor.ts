/** Memory layout of an image batch: channels first (PyTorch exports) or last (TF). */
export type Layout = 'nchw' | 'nhwc';

/** Per-channel normalisation applied to pixels scaled to [0, 1]. */
export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export const imagenetNormalization: Normalization = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/**
 * Writes one rendered RGB crop (HWC uint8) as normalised float32 into slot `index` of a
 * batch tensor in the given layout: (x / 255 - mean) / std per channel.
 *
 * @example
 * const batch = new Float32Array(n * 3 * size * size);
 * writeNormalized(pixels, size, batch, 0, 'nchw', imagenetNormalization);
 */
export function writeNormalized(pixels: Uint8Array, size: number, target: Float32Array, index: number, layout: Layout, norm: Normalization): void {
  const plane = size * size;
  const [scale0, scale1, scale2, shift0, shift1, shift2] = normalizationCoefficients(norm);
  const base = index * plane * 3;
  if (layout === 'nhwc') {
    for (let i = 0, p = 0; i < plane; i++, p += 3) {
      target[base + p] = pixels[p]! * scale0 - shift0;
      target[base + p + 1] = pixels[p + 1]! * scale1 - shift1;
      target[base + p + 2] = pixels[p + 2]! * scale2 - shift2;
    }
    return;
  }
  for (let i = 0, p = 0; i < plane; i++, p += 3) {
    target[base + i] = pixels[p]! * scale0 - shift0;
    target[base + plane + i] = pixels[p + 1]! * scale1 - shift1;
    target[base + 2 * plane + i] = pixels[p + 2]! * scale2 - shift2;
  }
}

/** Copies one rendered crop (HWC uint8) into slot `index` of a uint8 batch in the given layout. */
export function writeBytes(pixels: Uint8Array, size: number, target: Uint8Array, index: number, layout: Layout): void {
  const plane = size * size;
  const base = index * plane * 3;
  if (layout === 'nhwc') {
    target.set(pixels.subarray(0, plane * 3), base);
    return;
  }
  for (let i = 0, p = 0; i < plane; i++, p += 3) {
    target[base + i] = pixels[p]!;
    target[base + plane + i] = pixels[p + 1]!;
    target[base + 2 * plane + i] = pixels[p + 2]!;
  }
}

/**
 * The float64 constants of `writeNormalized`: value = pixel × scale[c] − shift[c], computed in
 * float64 and rounded once to float32. The wasm renderer (wasm/render.c) runs the same IEEE
 * operations on these same numbers, which is why its tensors are bit-identical.
 */
export function normalizationCoefficients(norm: Normalization): [number, number, number, number, number, number] {
  return [1 / (255 * norm.std[0]), 1 / (255 * norm.std[1]), 1 / (255 * norm.std[2]), norm.mean[0] / norm.std[0], norm.mean[1] / norm.std[1], norm.mean[2] / norm.std[2]];
}
