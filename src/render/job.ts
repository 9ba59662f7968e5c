import type { CropSpec } from '../crop/box.js';
import type { DecodedImage } from '../dataset/image.js';
import { renderBytes, renderNormalized, type Interpolation, type RingRenderer } from '../crop/render.js';
import type { Layout, Normalization } from '../crop/tensor.js';
import { decodeForRender, decodeImage, type DecodeOptions } from '../dataset/decode.js';
import { readImageFile } from '../dataset/file.js';
import { decodeLabelledImage, type LabelledImage } from '../dataset/labelled.js';
import type { ImageLocation } from '../dataset/source.js';

/** How every crop of a pass is rendered. */
export interface RenderSettings {
  size: number;
  interpolation: Interpolation;
  layout: Layout;
  dtype: 'float32' | 'uint8';
  normalization: Normalization;
  maxPixels: number;
  /** The JPEG decoding rule to replay by: the store's `sampler.decoder`, or undefined for libvips throughout (a store without one, or `LoaderOptions.decoder: 'sharp'`). */
  decoder: string | undefined;
}

/** Everything needed to turn one image file into its batch-ready crops; plain data, so it can cross to a worker thread. */
export interface ImageJob extends Omit<RenderSettings, 'decoder'> {
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
 * Decodes the image once and renders every requested crop with the shared renderer, into a
 * fresh buffer. (The loader renders into its batch ring instead: `renderIntoRing`.)
 *
 * @example
 * const { pixels } = await runImageJob({ file, name, crops, size: 224, interpolation: 'bilinear', layout: 'nchw', dtype: 'float32', normalization, maxPixels });
 */
export async function runImageJob(job: ImageJob): Promise<ImageJobResult> {
  const image = await decodeImage(job.file, job.name, { maxPixels: job.maxPixels });
  const perCrop = 3 * job.size * job.size;
  const pixels = job.dtype === 'float32' ? new Float32Array(job.crops.length * perCrop) : new Uint8Array(job.crops.length * perCrop);
  for (const [index, crop] of job.crops.entries()) renderInto(image, crop, job, pixels, index);
  return { pixels };
}

/** The batch ring's memory as a render thread sees it: every slot's samples, back to back. */
export interface RingViews {
  settings: RenderSettings;
  images: Float32Array | Uint8Array;
  /** `BOX_FIELDS` (top, left, height, width, flip) per sample. */
  boxes: Uint32Array;
  /** Renders straight into the ring's memory from this thread's region of it; null or absent: render into `images` (a copy). */
  renderer?: RingRenderer | null;
}

/** Box columns per sample in the ring: top, left, height, width, flip. */
export const BOX_FIELDS = 5;

/**
 * Decodes one image, checks it is the file that was labelled (content hash and size), and
 * renders its crops straight into their final places in the batch ring: crop `c` goes to
 * sample `places[c]` (slot × batch size + index), with the box stored there, through the
 * ring's renderer when the thread has one (no copy). No pixel buffer is allocated. It decodes
 * by `settings.decoder`; the answer is whether the image was decoded on this thread.
 */
export async function renderIntoRing(ring: RingViews, file: ImageLocation, name: string, expected: LabelledImage, places: ArrayLike<number>): Promise<boolean> {
  const image = await decodeLabelledImage(file, name, expected, ring.settings.maxPixels, ring.settings.decoder);
  renderPlaces(ring, image, places);
  return image.layout === 'rgbx';
}

/**
 * Renders crops of a decoded image into their places in the ring: crop `c` goes to sample
 * `places[c]`, with the box already stored at that place, through the ring's renderer when
 * the thread has one (no copy).
 */
export function renderPlaces(ring: RingViews, image: DecodedImage, places: ArrayLike<number>): void {
  const { settings, boxes } = ring;
  for (let c = 0; c < places.length; c++) {
    const place = places[c]!;
    const at = place * BOX_FIELDS;
    const crop = { top: boxes[at]!, left: boxes[at + 1]!, height: boxes[at + 2]!, width: boxes[at + 3]!, flip: boxes[at + 4] === 1 };
    const dst = place * 3 * settings.size * settings.size * ring.images.BYTES_PER_ELEMENT + ring.images.byteOffset;
    if (!ring.renderer?.render(image, crop, settings.size, settings.interpolation, settings.dtype, dst, settings.layout, settings.normalization)) renderInto(image, crop, settings, ring.images, place);
  }
}

/** An image the label pass read and decoded: its pixels and the content hash of the very bytes they came from. */
export interface OpenedImage {
  image: DecodedImage;
  hash: Uint8Array;
}

/**
 * Reads an image file once, hashes the bytes and decodes them under the store's rule
 * (`decodeForRender`), for the label pass; `options.admit` hears the pixel count first.
 *
 * @example
 * const { image, hash } = await openImage('train/a/x.jpg', 'a/x.jpg', { maxPixels });
 */
export async function openImage(file: ImageLocation, name: string, options: DecodeOptions): Promise<OpenedImage> {
  const { bytes, hash } = await readImageFile(file, name);
  return { image: await decodeForRender(bytes, name, options), hash };
}

/** Renders one crop into sample `index` of `target`, in the settings' layout and dtype. */
function renderInto(image: DecodedImage, crop: CropSpec, settings: Omit<RenderSettings, 'decoder'>, target: Float32Array | Uint8Array, index: number): void {
  const { size, interpolation, layout } = settings;
  if (target instanceof Float32Array) {
    renderNormalized(image, crop, size, interpolation, target, index, layout, settings.normalization);
    return;
  }
  renderBytes(image, crop, size, interpolation, target, index, layout);
}
