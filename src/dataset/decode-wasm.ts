import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { compileWasm } from '../wasm-api.js';
import type { RgbxImage } from './image.js';
import type { JpegHeader } from './jpeg-header.js';

/**
 * JPEG decoding on the calling thread, with the MozJPEG decoder compiled to WebAssembly
 * (the `@jsquash/jpeg` package). sharp's libvips carries the same decoder, so on every JPEG
 * an encoder writes that both read the same way the pixels are identical (a damaged file can
 * differ: `IN_THREAD_RULE`), and this path skips what libvips costs around it: every sharp decode hands work between libuv's pool and libvips' threads
 * (~200 futex calls and ~30 context switches per photo, measured with strace), which is
 * most of the loader's system time.
 *
 * The rule for "the same way", `wasmRefusal`, is conservative: plain 8-bit baseline or
 * progressive YCbCr (4:2:0, 4:2:2, 4:4:4) or greyscale, with nothing libvips would act on
 * (EXIF orientation, ICC profiles, gain maps, Adobe transforms). Everything else goes to
 * sharp, and so does any file on which the decoder warns (truncated or corrupt data), so
 * sharp's rules for bad input stay the only rules.
 */

/**
 * The name a label store gives this decoding rule (`sampler.decoder`): the labeler decoded
 * every JPEG that `wasmRefusal` accepts, and on which the decoder does not warn, with this
 * decoder, and everything else with sharp. A loader replays such a store exactly by applying
 * the same rule. On every JPEG an encoder writes the two give the same pixels; they can differ
 * on damaged or crafted files whose dequantised coefficients leave 16 bits, where libvips'
 * SIMD IDCT wraps and this C build does not (test/dataset/decode-wasm.test.ts).
 */
export const IN_THREAD_RULE = 'fkd-jpeg-1';

/** Larger images go to sharp: the decoder's memory only grows (to RGBA of the largest image). */
export const WASM_MAX_PIXELS = 4096 * 4096;

interface MozJpegModule {
  decode(data: Uint8Array, preserveOrientation: boolean): { data: Uint8ClampedArray; width: number; height: number } | null;
}
type Factory = (options: object) => Promise<MozJpegModule>;

/**
 * Why `header` is not decoded here (so sharp decodes it), or undefined when it is.
 *
 * @example
 * wasmRefusal(readJpegHeader(bytes)!, DEFAULT_MAX_PIXELS); // undefined, or 'EXIF orientation 6'
 */
export function wasmRefusal(header: JpegHeader, maxPixels: number): string | undefined {
  if (header.frame !== 0xc0 && header.frame !== 0xc1 && header.frame !== 0xc2) return `frame type 0x${header.frame.toString(16)}`;
  if (header.precision !== 8) return `${header.precision}-bit samples`;
  if (header.width === 0 || header.height === 0) return 'no size in the frame header';
  if (header.width * header.height > Math.min(maxPixels, WASM_MAX_PIXELS)) return 'too many pixels';
  if (header.orientation !== undefined && header.orientation !== 1) return `EXIF orientation ${header.orientation}`;
  if (header.unreadableExif > 0) return 'an EXIF segment this reader cannot read';
  if (header.colourSegments > 0) return 'an ICC profile, MPF or Adobe segment';
  const [y, cb, cr] = header.components;
  if (header.components.length === 1) return undefined;
  if (header.components.length !== 3 || !y || !cb || !cr) return `${header.components.length} components`;
  const chromaFull = cb.h === 1 && cb.v === 1 && cr.h === 1 && cr.v === 1;
  const lumaPlain = (y.h === 1 && y.v === 1) || (y.h === 2 && y.v === 1) || (y.h === 2 && y.v === 2);
  if (!chromaFull || !lumaPlain) return `sampling ${header.components.map((c) => `${c.h}x${c.v}`).join(',')}`;
  return undefined;
}

let instance: Promise<MozJpegModule> | undefined;
let unavailable: string | undefined;
let warnings = 0;

/** Why the in-thread decoder cannot run in this process, once it has tried to load; undefined while it can. */
export function wasmDecoderUnavailable(): string | undefined {
  return unavailable;
}

async function load(): Promise<MozJpegModule> {
  const require = createRequire(import.meta.url);
  const compiled = compileWasm(pathToFileURL(require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')));
  if (compiled.reason !== undefined) throw new Error(compiled.reason);
  const { api, module } = compiled;
  // A specifier in a variable: the package's own typings need lib.dom, which fkd does not compile with.
  const specifier = '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
  const factory = ((await import(specifier)) as { default: Factory }).default;
  return factory({
    noInitialRun: true,
    instantiateWasm: (imports: object, done: (instance: object) => void) => {
      const made = new api.Instance(module, imports);
      done(made);
      return made.exports;
    },
    // libjpeg reports warnings (premature end of data, corrupt data) here, synchronously.
    printErr: () => warnings++,
    print: () => undefined,
  });
}

/**
 * Decodes `bytes` (whose header `wasmRefusal` accepted) to RGBX on this thread, or returns
 * undefined when the decoder warned, failed or cannot run here: the caller then decodes with
 * sharp, which reports bad input by its own rules.
 */
export async function decodeJpegWasm(bytes: Uint8Array): Promise<RgbxImage | undefined> {
  if (unavailable !== undefined) return undefined;
  try {
    instance ??= load();
    const decoder = await instance;
    warnings = 0;
    let result;
    try {
      result = decoder.decode(bytes, false);
    } catch {
      // libjpeg's fatal errors end the Emscripten program; start from a fresh instance.
      instance = undefined;
      return undefined;
    }
    if (!result || warnings > 0) return undefined;
    const { data, width, height } = result;
    // Nothing from the decoder is taken on trust: four bytes per pixel, or sharp decodes it.
    if (!Number.isInteger(width) || !Number.isInteger(height) || data.length !== width * height * 4) return undefined;
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, layout: 'rgbx' };
  } catch (error) {
    unavailable = `cannot load the WebAssembly JPEG decoder (${(error as Error).message})`;
    return undefined;
  }
}
