import { readFileSync } from 'node:fs';

// The project compiles without lib.dom, which is where TypeScript declares WebAssembly; these
// are the few members fkd uses.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  /** fkd only makes shared memories (the batch ring's), whose buffer is a SharedArrayBuffer. */
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => WasmMemory & { readonly buffer: SharedArrayBuffer };
}

/** Bytes in a WebAssembly page. */
export const WASM_PAGE = 65536;

export type WasmModuleStatus = { api: WasmApi; module: object; reason?: undefined } | { api?: undefined; module?: undefined; reason: string };

/**
 * Reads and compiles a committed .wasm file (beside the module that asks, in src/ and in
 * dist/), synchronously; the reason instead when it is missing or the engine cannot run it
 * (no WebAssembly, or no SIMD128).
 *
 * @example
 * const status = compileWasm(new URL('./wasm/render.wasm', import.meta.url));
 */
export function compileWasm(url: URL): WasmModuleStatus {
  let bytes: Buffer;
  try {
    bytes = readFileSync(url);
  } catch (error) {
    return { reason: `cannot read ${url.pathname} (${(error as Error).message})` };
  }
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!api || !api.validate(bytes)) return { reason: 'this engine cannot run WebAssembly SIMD128' };
  try {
    return { api, module: new api.Module(bytes) };
  } catch (error) {
    return { reason: `cannot compile ${url.pathname} (${(error as Error).message})` };
  }
}
