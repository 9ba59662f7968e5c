import { describe, expect, it } from 'vitest';
import { mixKernel, mixMemory, mixMemoryBytes } from '../../src/loader/mix-kernel.js';
import { blendCrop } from '../../src/loader/mix-pixels.js';
import { keepForReuse, ringMemory } from '../../src/loader/ring-memory.js';
import { seededRandom } from '../helpers/random.js';

const SIDE = 37; // 3 × 37 × 37 = 4107 values: not a multiple of the kernel's 16-byte vectors
const CROPS = 4;

describe('the Mixup kernel on a ring in wasm memory', () => {
  it.each(['float32', 'uint8'] as const)('blends %s crops bit for bit as the JavaScript loop does, in place, touching no other crop', (dtype) => {
    const per = 3 * SIDE * SIDE;
    const bytes = mixMemoryBytes(CROPS * per * 4);
    const shared = mixMemory(bytes);
    expect(shared, 'this Node has wasm SIMD and shared memory').toBeInstanceOf(SharedArrayBuffer);
    expect(mixKernel(shared!)).toBeDefined();
    const make = (buffer: ArrayBufferLike) => (dtype === 'float32' ? new Float32Array(buffer, 0, CROPS * per) : new Uint8Array(buffer, 0, CROPS * per));
    const inWasm = make(shared!);
    const plain = make(new ArrayBuffer(CROPS * per * 4));
    expect(mixKernel(plain.buffer)).toBeUndefined();
    const random = seededRandom(4);
    for (let v = 0; v < plain.length; v++) plain[v] = dtype === 'float32' ? (random() - 0.5) * 5 : Math.floor(random() * 256);
    inWasm.set(plain);
    const untouched = Array.from(plain.subarray(0, per));
    const original = Array.from(plain.subarray(per, 2 * per));
    // A ring slot is a view at an offset: crops 1..3 of the ring, blended as crops 0..2 of the slot.
    const slot = (images: Float32Array | Uint8Array) => ({ images: images.subarray(per), side: SIDE, layout: 'nchw' as const });
    for (const [index, from, lambda] of [[0, 2, 0.3], [2, 1, 0.8125], [1, 0, 0.999]] as const) {
      blendCrop(slot(inWasm), slot(inWasm).images, index, from, lambda);
      blendCrop(slot(plain), slot(plain).images, index, from, lambda);
    }
    expect(Buffer.from(inWasm.buffer, 0, inWasm.byteLength).equals(Buffer.from(plain.buffer, 0, plain.byteLength))).toBe(true);
    expect(Array.from(inWasm.subarray(0, per)), 'crop 0 of the ring is outside the slot').toEqual(untouched);
    expect(Array.from(inWasm.subarray(per, 2 * per)), 'slot crop 0 was blended').not.toEqual(original);
  });

  it('keeps wasm ring memory for the next ring of the same size, apart from plain shared memory', () => {
    const first = ringMemory(100_000, 'wasm');
    expect(mixKernel(first)).toBeDefined();
    expect(first.byteLength).toBe(mixMemoryBytes(100_000));
    keepForReuse(first);
    expect(ringMemory(100_000, 'shared')).not.toBe(first);
    expect(ringMemory(100_000, 'wasm')).toBe(first);
  });
});
