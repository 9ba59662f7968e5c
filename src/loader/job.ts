import type { CropSpec } from '../crop/box.js';
import { renderCrop, renderNormalized, type Interpolation } from '../crop/render.js';
import { writeBytes, type Normalization } from '../crop/tensor.js';
import { decodeImage } from '../dataset/decode.js';
import type { Layout } from '../crop/tensor.js';

/** How every crop of a pass is rendered. */
export interface RenderSettings {
  size: number;
  interpolation: Interpolation;
  layout: Layout;
  dtype: 'float32' | 'uint8';
  normalization: Normalization;
  maxPixels: number;
}

/** Everything needed to turn one image file into its batch-ready crops; plain data, so it can cross to a worker thread. */
export interface ImageJob extends RenderSettings {
  file: string;
  /** Name used in error messages: the path relative to the dataset root. */
  name: string;
  crops: CropSpec[];
}

export interface ImageJobResult {
  /** `crops.length` crops, each `3 × size × size` values in the job's layout. */
  pixels: Float32Array | Uint8Array;
}

/**
 * Decodes the image once and renders every requested crop with the shared renderer.
 *
 * @example
 * const { pixels } = await runImageJob({ file, name, crops, size: 224, interpolation: 'bilinear', layout: 'nchw', dtype: 'float32', normalization, maxPixels });
 */
export async function runImageJob(job: ImageJob): Promise<ImageJobResult> {
  const image = await decodeImage(job.file, job.name, { maxPixels: job.maxPixels });
  const count = job.crops.length;
  const perCrop = 3 * job.size * job.size;
  const pixels = job.dtype === 'float32' ? new Float32Array(count * perCrop) : new Uint8Array(count * perCrop);
  const scratch = new Uint8Array(perCrop);
  for (const [index, crop] of job.crops.entries()) {
    if (pixels instanceof Float32Array) renderNormalized(image, crop, job.size, job.interpolation, pixels, index, job.layout, job.normalization);
    else writeBytes(renderCrop(image, crop, job.size, job.interpolation, scratch), job.size, pixels, index, job.layout);
  }
  return { pixels };
}
