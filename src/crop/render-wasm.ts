import type { CropSpec } from './box.js';
import type { DecodedImage } from '../dataset/image.js';
import { coefficients, type Coefficients, type Interpolation } from './render-reference.js';
import { normalizationCoefficients, type Layout, type Normalization } from './tensor.js';
import { compileWasm, WASM_PAGE, type WasmApi, type WasmMemory } from '../wasm-api.js';

/**
 * The WebAssembly (SIMD128) build of the reference renderer, wasm/render.c. Coefficients
 * come from the reference code and the C side replays its integer arithmetic exactly, so
 * the bytes are the reference's bytes (test/crop/render-wasm.test.ts checks thousands of
 * cases). WebAssembly integer SIMD is fully specified, with no platform-dependent paths
 * (no relaxed SIMD), so every machine computes the same bytes.
 *
 * Each thread (main or worker_thread) that imports this module gets its own instance and
 * linear memory; rendering is synchronous, so one instance is never used concurrently.
 *
 * Memory layout, chosen here per call: [C data + stack | image | coefficients, scratch, output].
 * The decoded image stays in linear memory and is reused while the same `DecodedImage` (same
 * object, same `data` array, same size) is rendered again: images are treated as immutable
 * once rendered. Memory grows to fit the largest image and crop seen; wasm memory cannot
 * shrink, so once it exceeds `shrinkAbove` (256 MiB) and a much smaller image comes, the
 * instance is replaced by a fresh one and the old memory is left to the garbage collector.
 */

interface RenderExports {
  /** Absent in the ring build (render-shared.wasm), which imports its memory. */
  memory?: WasmMemory;
  __heap_base?: { value: number };
  horizontal(src: number, stride: number, rows: number, first: number, weights: number, taps: number, size: number, flip: number, temp: number, splat: number): void;
  vertical(temp: number, rowLow: number, first: number, weights: number, taps: number, size: number, out: number): void;
  normalize(pixels: number, size: number, coefficients: number, dst: number, nchw: number): void;
  compact(pixels: number, count: number): void;
  planar(pixels: number, size: number, dst: number): void;
}

/** Bytes of slack after the image (8-byte pixel loads) and after row buffers (16-byte vectors). */
const PAD = 16;
const PAGE = WASM_PAGE;
/** Offsets are passed to wasm as i32; stay below 2 GiB so they are never negative. */
const MAX_MEMORY = 2 ** 31 - PAGE;
/** Memoised coefficients per thread: about 500 box sides at 224 px. */
const COEFFICIENT_CACHE_BYTES = 4 * 2 ** 20;
// Arithmetic, not `& ~15`: a layout past 2^31 bytes must stay a large positive number (and be
// refused by `reserve`), not wrap to a negative offset that passes every bound.
const align = (n: number): number => Math.ceil(n / 16) * 16;

export interface WasmRendererOptions {
  /** Start over with fresh memory when it is larger than this and the next image needs under a quarter. */
  shrinkAbove?: number;
}

/**
 * Bytes [start, end) of a batch ring's shared wasm memory that one render thread owns: its
 * image, coefficients and scratch live there, and its crops' values go straight into their
 * ring slots, in the same memory. The ring build of the renderer (render-shared.wasm) runs on it.
 */
export interface RingRegion {
  /** The ring's shared WebAssembly.Memory. */
  memory: WasmMemory;
  start: number;
  end: number;
}

export class WasmRenderer {
  private exports: RenderExports;
  private readonly imageAt: number;
  private imageEnd: number;
  private buffer: ArrayBuffer = new ArrayBuffer(0);
  private u8 = new Uint8Array(0);
  private i32 = new Int32Array(0);
  private f32 = new Float32Array(0);
  private cachedImage: WeakRef<DecodedImage> | null = null;
  private cachedData: WeakRef<Uint8Array> | null = null;
  private cachedWidth = 0;
  private cachedHeight = 0;
  private readonly coefficientCache = new Map<string, Coefficients>();
  private coefficientBytes = 0;
  private f64 = new Float64Array(0);

  private readonly shrinkAbove: number;
  private memory: WasmMemory;

  /** With `region`, `module` must be the ring build and the renderer never grows or replaces its memory. */
  constructor(
    private readonly api: WasmApi,
    private readonly module: object,
    options: WasmRendererOptions = {},
    private readonly region?: RingRegion,
  ) {
    this.exports = new api.Instance(module, region ? { env: { memory: region.memory } } : {}).exports as RenderExports;
    this.memory = region ? region.memory : this.exports.memory!;
    this.imageAt = align(region ? region.start : this.exports.__heap_base!.value);
    this.imageEnd = this.imageAt;
    this.shrinkAbove = options.shrinkAbove ?? 256 * 2 ** 20;
  }

  /** Current size of linear memory, in bytes. */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Renders into linear memory and returns the byte offset of the HWC uint8 crop, and of
   * `extra` scratch bytes; null when linear memory cannot grow that far. The caller has
   * checked the inputs (integers, box inside the image, enough image data).
   */
  private render(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, extra: number): { out: number; extraAt: number } | null {
    const horizontal = this.coefficients(crop.width, size, interpolation);
    const vertical = this.coefficients(crop.height, size, interpolation);
    if (!this.loadImage(image)) return null;
    const rowLow = vertical.first[0]!;
    const rows = vertical.first[size - 1]! + vertical.taps - rowLow;
    const rowBytes = size * 3;
    let at = this.imageEnd;
    const take = (bytes: number): number => {
      const start = at;
      at = align(at + bytes);
      return start;
    };
    const hFirst = take(size * 4);
    const hWeights = take(horizontal.weights.length * 4);
    const vFirst = take(size * 4);
    const vWeights = take(vertical.weights.length * 4);
    const splat = take(horizontal.weights.length * 16);
    const temp = take(rows * rowBytes + PAD);
    const out = take(size * rowBytes + PAD);
    const extraAt = take(extra);
    if (!this.reserve(at)) return null;
    this.putCoefficients(horizontal, hFirst, hWeights);
    this.putCoefficients(vertical, vFirst, vWeights);
    const stride = image.width * 3;
    const src = this.imageAt + (crop.top + rowLow) * stride + crop.left * 3;
    this.exports.horizontal(src, stride, rows, hFirst, hWeights, horizontal.taps, size, crop.flip ? 1 : 0, temp, splat);
    this.exports.vertical(temp, rowLow, vFirst, vWeights, vertical.taps, size, out);
    return { out, extraAt };
  }

  /** `renderCrop`; false (nothing written) when linear memory cannot grow enough. */
  renderCrop(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, result: Uint8Array): boolean {
    const bytes = size * size * 3;
    const done = this.render(image, crop, size, interpolation, 0);
    if (!done) return false;
    result.set(this.u8.subarray(done.out, done.out + bytes));
    return true;
  }

  /** `renderBytes`; false (nothing written) when linear memory cannot grow enough. */
  renderBytes(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, target: Uint8Array, index: number, layout: Layout): boolean {
    const values = size * size * 3;
    const done = this.render(image, crop, size, interpolation, layout === 'nchw' ? values : 0);
    if (!done) return false;
    let from = done.out;
    if (layout === 'nchw') {
      this.exports.planar(done.out, size, done.extraAt);
      from = done.extraAt;
    }
    target.set(this.u8.subarray(from, from + values), index * values);
    return true;
  }

  /**
   * Ring builds only: renders a crop and writes its normalised float32 values (`layout`) at
   * byte offset `dst` of the ring's memory, a ring slot, with no copy. False (nothing written)
   * when the region is too small for this image.
   */
  renderNormalizedAt(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, dst: number, layout: Layout, norm: Normalization): boolean {
    const done = this.render(image, crop, size, interpolation, 16 * 4);
    if (!done) return false;
    this.f64.set(normalizationCoefficients(norm), done.extraAt >>> 3);
    this.exports.normalize(done.out, size, done.extraAt, dst, layout === 'nchw' ? 1 : 0);
    return true;
  }

  /** Ring builds only: `renderNormalizedAt` for uint8 values. */
  renderBytesAt(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, dst: number, layout: Layout): boolean {
    const done = this.render(image, crop, size, interpolation, 0);
    if (!done) return false;
    if (layout === 'nchw') this.exports.planar(done.out, size, dst);
    else this.u8.copyWithin(dst, done.out, done.out + size * size * 3);
    return true;
  }

  /** `renderNormalized`; false (nothing written) when linear memory cannot grow enough. */
  renderNormalized(image: DecodedImage, crop: CropSpec, size: number, interpolation: Interpolation, target: Float32Array, index: number, layout: Layout, norm: Normalization): boolean {
    const values = size * size * 3;
    const done = this.render(image, crop, size, interpolation, 16 * 4 + values * 4);
    if (!done) return false;
    const { out, extraAt } = done;
    const floatsAt = extraAt + 16 * 4;
    this.f64.set(normalizationCoefficients(norm), extraAt >>> 3);
    this.exports.normalize(out, size, extraAt, floatsAt, layout === 'nchw' ? 1 : 0);
    target.set(this.f32.subarray(floatsAt >>> 2, (floatsAt >>> 2) + values), index * values);
    return true;
  }

  /**
   * The reference's coefficients, memoised: computing them costs 20–40 µs per axis at 224 px,
   * a tenth of a wasm render, and random crops of one dataset reuse a few hundred box sides.
   * Least recently used entries go first once the cache holds COEFFICIENT_CACHE_BYTES.
   */
  private coefficients(inSize: number, outSize: number, interpolation: Interpolation): Coefficients {
    const key = `${interpolation}:${inSize}:${outSize}`;
    const cache = this.coefficientCache;
    const hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const made = coefficients(inSize, outSize, interpolation);
    cache.set(key, made);
    this.coefficientBytes += made.first.byteLength + made.weights.byteLength;
    for (const [oldest, entry] of cache) {
      if (this.coefficientBytes <= COEFFICIENT_CACHE_BYTES || oldest === key) break;
      cache.delete(oldest);
      this.coefficientBytes -= entry.first.byteLength + entry.weights.byteLength;
    }
    return made;
  }

  /** Copies the image into linear memory unless it is the one already there. */
  private loadImage(image: DecodedImage): boolean {
    if (this.cachedImage?.deref() === image && this.cachedData?.deref() === image.data && this.cachedWidth === image.width && this.cachedHeight === image.height) return true;
    const pixels = image.width * image.height;
    const bytes = pixels * 3;
    // RGBX is copied as it is and compacted to RGB in place: one SIMD pass instead of a JavaScript loop.
    const copied = image.layout === 'rgbx' ? pixels * 4 : bytes;
    this.cachedImage = null;
    this.imageEnd = this.imageAt;
    if (!this.region && this.memoryBytes > this.shrinkAbove && this.imageAt + copied < this.shrinkAbove / 4) {
      this.exports = new this.api.Instance(this.module, {}).exports as RenderExports;
      this.memory = this.exports.memory!;
    }
    if (!this.reserve(this.imageAt + Math.max(copied, bytes + PAD))) return false;
    this.u8.set(image.data.subarray(0, copied), this.imageAt);
    if (copied !== bytes) this.exports.compact(this.imageAt, pixels);
    this.u8.fill(0, this.imageAt + bytes, this.imageAt + bytes + PAD);
    this.imageEnd = align(this.imageAt + bytes + PAD);
    this.cachedImage = new WeakRef(image);
    this.cachedData = new WeakRef(image.data);
    this.cachedWidth = image.width;
    this.cachedHeight = image.height;
    return true;
  }

  private putCoefficients(c: Coefficients, first: number, weights: number): void {
    this.i32.set(c.first, first >>> 2);
    this.i32.set(c.weights, weights >>> 2);
  }

  /**
   * Grows linear memory to at least `end` bytes and refreshes the views (growing detaches
   * them). False when it cannot (past wasm32's 4 GiB, or the engine refuses).
   */
  private reserve(end: number): boolean {
    const memory = this.memory;
    if (this.region && end > this.region.end) return false;
    if (memory.buffer.byteLength < end) {
      try {
        if (end > MAX_MEMORY) throw new RangeError('past the wasm32 address space');
        memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
      } catch {
        return false;
      }
    }
    if (this.buffer !== memory.buffer) {
      this.buffer = memory.buffer;
      this.u8 = new Uint8Array(this.buffer);
      this.i32 = new Int32Array(this.buffer);
      this.f32 = new Float32Array(this.buffer);
      this.f64 = new Float64Array(this.buffer);
    }
    return true;
  }
}

export type WasmStatus = { renderer: WasmRenderer; reason?: undefined } | { renderer: null; reason: string };

/**
 * Bytes of ring region a thread needs to render `size`-pixel crops of images up to
 * `width` × `height` (RGBX, the larger layout): the image plus the coefficient, row and crop
 * buffers `render` lays out after it, for bicubic's widest tap windows. A region that turns
 * out too small only sends that image to the copying path.
 */
export function ringRegionBytes(width: number, height: number, size: number): number {
  const taps = (side: number) => Math.ceil(4 * Math.max(side / size, 1)) + 3;
  const buffers = [4 * width * height + PAD, size * 4, size * taps(width) * 4, size * 4, size * taps(height) * 4, size * taps(width) * 16, height * size * 3 + PAD, size * size * 3 + PAD, 16 * 4];
  return buffers.reduce((sum, bytes) => sum + align(bytes), 16);
}

let ringBuild: ReturnType<typeof compileWasm> | undefined;

/**
 * A renderer of the ring build (wasm/render-shared.wasm) working in `region` of a ring's
 * memory; null when this engine cannot (the caller then renders with its own renderer and
 * copies). Compiled once per thread.
 */
export function loadRingRenderer(region: RingRegion): WasmRenderer | null {
  ringBuild ??= compileWasm(new URL('./wasm/render-shared.wasm', import.meta.url));
  if (ringBuild.reason !== undefined) return null;
  try {
    return new WasmRenderer(ringBuild.api, ringBuild.module, {}, region);
  } catch {
    return null;
  }
}

/**
 * Compiles and instantiates wasm/render.wasm (beside this module, in src/ and in dist/),
 * synchronously. Returns the reason instead when it is missing or the engine lacks SIMD.
 */
export function loadWasmRenderer(options: WasmRendererOptions = {}): WasmStatus {
  const url = new URL('./wasm/render.wasm', import.meta.url);
  const compiled = compileWasm(url);
  if (compiled.reason !== undefined) return { renderer: null, reason: compiled.reason };
  try {
    return { renderer: new WasmRenderer(compiled.api, compiled.module, options) };
  } catch (error) {
    return { renderer: null, reason: `cannot instantiate ${url.pathname} (${(error as Error).message})` };
  }
}
