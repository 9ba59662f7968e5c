import type { CropSpec } from './box.js';
import { toRgb, type DecodedImage } from '../dataset/image.js';
import { checkCropBox, renderCropReference, type Interpolation } from './render-reference.js';
import { loadRingRenderer, loadWasmRenderer, type RingRegion, type WasmRenderer } from './render-wasm.js';
import { writeBytes, writeNormalized, type Layout, type Normalization } from './tensor.js';

export { renderCropReference, type Interpolation } from './render-reference.js';

/**
 * The one crop renderer. The labeler feeds the teacher with it and the loader feeds the
 * student with it, so replay is exact because both run this code, not because it matches
 * PyTorch. The algorithm is defined by the plain-TypeScript reference (render-reference.ts):
 * separable antialiased resampling with 22-bit fixed-point integer weights, PIL-style.
 * It runs as WebAssembly SIMD128 (wasm/render.c), which produces the reference's bytes
 * exactly; where WebAssembly SIMD is unavailable (or FKD_RENDERER=reference is set) the
 * reference itself runs. Either way the bytes are the same on every machine.
 */

export type RendererBackend = { kind: 'wasm' } | { kind: 'reference'; reason: string };

let wasm: WasmRenderer | null | undefined;
let backend: RendererBackend = { kind: 'reference', reason: 'not loaded yet' };

function renderer(): WasmRenderer | null {
  if (wasm === undefined) {
    if (process.env.FKD_RENDERER === 'reference') {
      wasm = null;
      backend = { kind: 'reference', reason: 'FKD_RENDERER=reference' };
    } else {
      const status = loadWasmRenderer();
      wasm = status.renderer;
      backend = status.renderer ? { kind: 'wasm' } : { kind: 'reference', reason: status.reason };
    }
  }
  return wasm;
}

/** Which implementation `renderCrop` and `renderNormalized` run in this thread, and why. */
export function rendererBackend(): RendererBackend {
  renderer();
  return backend;
}

/**
 * Renders `crop` of `image` as a `size × size` RGB crop (HWC, uint8), mirrored when
 * `crop.flip` is set. Pass `out` to reuse a buffer. The image is copied into the wasm
 * renderer's memory on first use and kept while the same image is rendered again, so
 * render all crops of an image together, and do not modify `image.data` afterwards.
 *
 * @example
 * const pixels = renderCrop(image, { top: 10, left: 20, height: 100, width: 120, flip: true }, 224, 'bilinear');
 */
export function renderCrop(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, out?: Uint8Array): Uint8Array {
  const fast = renderer();
  if (fast && accepts(image, crop, size)) {
    checkCropBox(image, crop);
    const bytes = size * size * 3;
    if (out && out.length < bytes) throw new RangeError(`renderCrop: the output buffer holds ${out.length} bytes; a ${size}×${size} crop needs ${bytes}.`);
    const result = out ?? new Uint8Array(bytes);
    if (fast.renderCrop(image, crop, size, interpolation, result)) return result;
  }
  return renderCropReference(toRgb(image), crop, size, interpolation, out);
}

let scratch = new Uint8Array(0);

/**
 * `renderCrop` followed by `writeNormalized` into slot `index` of a float32 batch, in one
 * step and without an intermediate JS buffer; bit-identical to the two calls.
 *
 * @example
 * const batch = new Float32Array(n * 3 * 224 * 224);
 * renderNormalized(image, spec, 224, 'bilinear', batch, 0, 'nchw', imagenetNormalization);
 */
export function renderNormalized(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, target: Float32Array, index: number, layout: Layout, norm: Normalization): void {
  renderIntoSlot('renderNormalized', image, crop, size, target, index, (fast) => fast.renderNormalized(image, crop, size, interpolation, target, index, layout, norm), (pixels) => {
    renderCropReference(toRgb(image), crop, size, interpolation, pixels);
    writeNormalized(pixels, size, target, index, layout, norm);
  });
}

/**
 * `renderCrop` followed by `writeBytes` into slot `index` of a uint8 batch, in one step (the
 * wasm renderer also writes the NCHW planes, with SIMD shuffles); bit-identical to the two calls.
 *
 * @example
 * const batch = new Uint8Array(n * 3 * 224 * 224);
 * renderBytes(image, spec, 224, 'bilinear', batch, 0, 'nchw');
 */
export function renderBytes(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, target: Uint8Array, index: number, layout: Layout): void {
  renderIntoSlot('renderBytes', image, crop, size, target, index, (fast) => fast.renderBytes(image, crop, size, interpolation, target, index, layout), (pixels) => {
    renderCropReference(toRgb(image), crop, size, interpolation, pixels);
    writeBytes(pixels, size, target, index, layout);
  });
}

/** Checks the batch slot, then renders with the wasm renderer when it takes the inputs, else with the reference into a scratch crop. */
function renderIntoSlot(name: string, image: DecodedImage, crop: CropSpec, size: number, target: Float32Array | Uint8Array, index: number, viaWasm: (fast: WasmRenderer) => boolean, viaReference: (pixels: Uint8Array) => void): void {
  const values = size * size * 3;
  if (!Number.isInteger(index) || index < 0 || (index + 1) * values > target.length) {
    const unit = target instanceof Float32Array ? 'floats' : 'bytes';
    throw new RangeError(`${name}: slot ${index} of ${values} ${unit} does not fit a batch of ${target.length} ${unit}.`);
  }
  const fast = renderer();
  if (fast && accepts(image, crop, size)) {
    checkCropBox(image, crop);
    if (viaWasm(fast)) return;
  }
  if (scratch.length < values) scratch = new Uint8Array(values);
  viaReference(scratch);
}

/** Renders crops straight into a batch ring's shared wasm memory, from one thread's region of it. */
export interface RingRenderer {
  /**
   * Renders `crop` into the ring slot at byte offset `dst`, as normalised float32 or uint8 in
   * `layout`: the bytes `renderNormalized` / `renderBytes` would write there. False when it
   * cannot (odd inputs, or an image too large for the region): render into the slot's view
   * with those instead. A box outside the image throws E_DATASET_MISMATCH, as they do.
   */
  render(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, dtype: 'float32' | 'uint8', dst: number, layout: Layout, norm: Normalization): boolean;
}

/**
 * A `RingRenderer` on `region`, or null where the wasm renderer does not run (then render
 * into the slot's view with `renderNormalized` / `renderBytes`).
 *
 * @example
 * const ring = ringRenderer({ memory, start: regionStart, end: regionEnd });
 */
export function ringRenderer(region: RingRegion): RingRenderer | null {
  if (!renderer()) return null;
  const fast = loadRingRenderer(region);
  if (!fast) return null;
  return {
    render(image, crop, size, interpolation, dtype, dst, layout, norm) {
      if (!accepts(image, crop, size)) return false;
      checkCropBox(image, crop);
      return dtype === 'float32' ? fast.renderNormalizedAt(image, crop, size, interpolation, dst, layout, norm) : fast.renderBytesAt(image, crop, size, interpolation, dst, layout);
    },
  };
}

/** Whether the wasm path takes these inputs; odd ones (non-integers, short data) go to the reference as they are. */
function accepts(image: DecodedImage, crop: CropSpec, size: number): boolean {
  return (
    Number.isInteger(size) && size >= 1 && Number.isInteger(crop.top) && Number.isInteger(crop.left) && Number.isInteger(crop.height) && Number.isInteger(crop.width) &&
    Number.isInteger(image.width) && Number.isInteger(image.height) && image.data.length >= image.width * image.height * (image.layout === 'rgbx' ? 4 : 3)
  );
}
