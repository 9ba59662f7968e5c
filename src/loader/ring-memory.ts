import { mixMemory, mixMemoryBytes, mixKernel } from './mix-kernel.js';

/**
 * What a ring's memory is: a plain ArrayBuffer (no render threads), a SharedArrayBuffer the
 * render threads write into, or that as a shared wasm memory with the Mixup kernel on it.
 */
export type RingMemoryKind = 'plain' | 'shared' | 'wasm';

/**
 * Pixel and box memory of released rings, by kind and size, for the next pass to reuse. A
 * SharedArrayBuffer lives as long as any thread has a view of it, and an idle render thread
 * never collects garbage, so a ring allocated per pass was never freed: RSS grew by one ring
 * (~300 MB at batch 128, 224 px, float32) per epoch. Reusing the memory keeps it at one ring
 * per shape. At most `SPARE_RINGS` buffers of each size wait here.
 */
const spare = new Map<string, Array<SharedArrayBuffer | ArrayBuffer>>();
const SPARE_RINGS = 2;

function kindOf(buffer: SharedArrayBuffer | ArrayBuffer): RingMemoryKind {
  return mixKernel(buffer) !== undefined ? 'wasm' : buffer instanceof SharedArrayBuffer ? 'shared' : 'plain';
}

/**
 * At least `bytes` of ring memory of `kind`, reused when a released ring left one of that
 * size. A `wasm` request falls back to `shared` where wasm memory cannot be had. Views must
 * give their length: wasm memory comes in whole pages.
 */
export function ringMemory(bytes: number, kind: RingMemoryKind): SharedArrayBuffer | ArrayBuffer {
  const size = kind === 'wasm' ? mixMemoryBytes(bytes) : bytes;
  const reused = spare.get(`${kind}:${size}`)?.pop();
  if (reused !== undefined) return reused;
  if (kind === 'wasm') return mixMemory(size) ?? ringMemory(bytes, 'shared');
  return kind === 'shared' ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
}

/** Hands a released ring's buffer to the next ring of its kind and size. */
export function keepForReuse(buffer: SharedArrayBuffer | ArrayBuffer): void {
  const key = `${kindOf(buffer)}:${buffer.byteLength}`;
  const list = spare.get(key) ?? [];
  if (list.length < SPARE_RINGS) list.push(buffer);
  spare.set(key, list);
}
