import { compileWasm, WASM_PAGE, type WasmMemory, type WasmModuleStatus } from '../wasm-api.js';

/** wasm/mix.c's exports: byte offsets into the ring's memory, value counts, Mixup weights. */
export interface MixKernel {
  blend_f32(own: number, partner: number, values: number, lambda: number, rest: number): void;
  blend_u8(own: number, partner: number, values: number, weight: number): void;
}

/** Offsets are passed to wasm as i32: stay below 2 GiB so they are never negative. */
export const MAX_RING_WASM_BYTES = 2 ** 31 - WASM_PAGE;

let compiled: WasmModuleStatus | undefined;
const kernels = new WeakMap<SharedArrayBuffer, MixKernel>();
const memories = new WeakMap<SharedArrayBuffer, WasmMemory>();

/** Bytes a ring of `bytes` takes as wasm memory: whole pages. */
export function mixMemoryBytes(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / WASM_PAGE)) * WASM_PAGE;
}

/**
 * A shared WebAssembly.Memory of `bytes` (whole pages) with the Mixup kernel instantiated on
 * it, for a batch ring's pixels: Mixup then blends crops where they lie, at SIMD speed, with
 * no copy in or out. Undefined when this engine cannot (no wasm SIMD, or above 2 GiB); the
 * ring is then an ordinary SharedArrayBuffer and Mixup blends in JavaScript.
 */
export function mixMemory(bytes: number): SharedArrayBuffer | undefined {
  compiled ??= compileWasm(new URL('./wasm/mix.wasm', import.meta.url));
  if (compiled.reason !== undefined || bytes > MAX_RING_WASM_BYTES || bytes % WASM_PAGE !== 0) return undefined;
  try {
    const pages = bytes / WASM_PAGE;
    const memory = new compiled.api.Memory({ initial: pages, maximum: pages, shared: true });
    kernels.set(memory.buffer, new compiled.api.Instance(compiled.module, { env: { memory } }).exports as MixKernel);
    memories.set(memory.buffer, memory);
    return memory.buffer;
  } catch {
    // Address space or a memory limit: the JavaScript blend gives the same values.
    return undefined;
  }
}

/** The WebAssembly.Memory whose buffer is `buffer`, when it is a ring's wasm memory (render threads instantiate the ring renderer on it). */
export function ringWasmMemory(buffer: ArrayBufferLike): WasmMemory | undefined {
  return buffer instanceof SharedArrayBuffer ? memories.get(buffer) : undefined;
}

/** The Mixup kernel running on `buffer`, when it is a ring's wasm memory. */
export function mixKernel(buffer: ArrayBufferLike): MixKernel | undefined {
  return buffer instanceof SharedArrayBuffer ? kernels.get(buffer) : undefined;
}
