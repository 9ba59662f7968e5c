import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { label } from '../../src/generate/label.js';
import { imagenetNormalization } from '../../src/crop/tensor.js';
import { BatchRing, liveRings } from '../../src/loader/assemble.js';
import type { Batch } from '../../src/loader/batch.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import { sharedRenderPool } from '../../src/render/pool.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

let work: string;
let labels: LabelSet;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-ring-'));
  const store = join(work, 'labels');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: store, epochs: 1, crops: 3, topK: 2, threads: 1 });
  labels = await openLabels(store);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const options = (extra: Partial<LoaderOptions> = {}): LoaderOptions => ({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 5, size: 24, layout: 'nchw', workers: 2, prefetch: 1, ...extra });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything a batch holds, as plain values, to compare a held batch with its copy. */
const contents = (batch: Batch) => ({ images: Array.from(batch.images), classes: Array.from(batch.targets.classes), probs: Array.from(batch.targets.probs), dense: Array.from(batch.targets.dense()), meta: JSON.stringify(batch.meta) });

async function reference(extra: Partial<LoaderOptions> = {}): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of createLoader(options({ ...extra, copy: true }))) out.push(batch);
  return out;
}

async function heldRings(threads: number): Promise<number[]> {
  return (await sharedRenderPool(threads).heldRings()).flat();
}

describe('batch ring', () => {
  it('keeps each batch valid until the consumer asks for the batch two after it, however far the threads could run ahead', async () => {
    for (const extra of [{ workers: 2, prefetch: 1 }, { workers: 0, prefetch: 0 }, { workers: 1, prefetch: 3, dtype: 'uint8' as const }]) {
      const want = await reference(extra);
      const iterator = createLoader(options(extra))[Symbol.asyncIterator]();
      const held: Batch[] = [];
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        held.push(next.value);
        // Give the render threads time to fill every slot they are allowed to.
        await sleep(150);
        const k = held.length - 1;
        expect(contents(held[k]!), `batch ${k}`).toEqual(contents(want[k]!));
        if (k > 0) expect(contents(held[k - 1]!), `batch ${k - 1} while ${k} is held`).toEqual(contents(want[k - 1]!));
      }
      expect(held).toHaveLength(want.length);
      // Zero-copy: batches b and b + ring size share memory, in SharedArrayBuffer when threads render.
      const ring = (extra.prefetch ?? 1) + 2;
      expect(held[ring]!.images.buffer).toBe(held[0]!.images.buffer);
      expect(held[0]!.images.buffer instanceof SharedArrayBuffer).toBe(extra.workers > 0);
      expect(held[1]!.images.byteOffset).not.toBe(held[0]!.images.byteOffset);
    }
  });

  it('streams uint8 batches that are the float32 batches before normalisation, in either layout', async () => {
    const { mean, std } = labels.manifest.teacher;
    for (const layout of ['nchw', 'nhwc'] as const) {
      const floats = await reference({ layout });
      const bytes = await reference({ layout, dtype: 'uint8' });
      expect(bytes.map((b) => b.size)).toEqual(floats.map((b) => b.size));
      const plane = 24 * 24;
      for (const [index, batch] of bytes.entries()) {
        expect(batch.images).toBeInstanceOf(Uint8Array);
        expect(batch.normalization).toEqual({ mean, std });
        const want = floats[index]!.images;
        const mismatches = Array.from(batch.images).filter((v, i) => {
          const c = layout === 'nhwc' ? i % 3 : Math.floor(i / plane) % 3;
          return Math.fround(v * (1 / (255 * std[c]!)) - mean[c]! / std[c]!) !== want[i];
        });
        expect(mismatches).toHaveLength(0);
      }
    }
  });

  it('gives batches that stay valid forever with copy: true or batch.clone()', async () => {
    const streamed: Array<ReturnType<typeof contents>> = [];
    const cloned: Batch[] = [];
    for await (const batch of createLoader(options())) {
      streamed.push(contents(batch));
      cloned.push(batch.clone());
    }
    const copies = await reference();
    expect(copies.map(contents)).toEqual(streamed);
    expect(cloned.map(contents)).toEqual(streamed);
    for (const batch of [...copies, ...cloned]) expect(batch.images.buffer instanceof SharedArrayBuffer).toBe(false);
    expect(new Set(copies.map((b) => b.images.buffer)).size).toBe(copies.length);
  });

  it('frees the ring when the epoch ends, is abandoned or aborted mid-epoch', async () => {
    for await (const batch of createLoader(options())) expect(batch.size).toBeGreaterThan(0);
    expect(liveRings()).toEqual([]);
    expect(await heldRings(2)).toEqual([]);

    for await (const _ of createLoader(options())) break;
    expect(liveRings()).toEqual([]);
    expect(await heldRings(2)).toEqual([]);

    const controller = new AbortController();
    let seen = 0;
    const run = async () => {
      for await (const _ of createLoader(options({ signal: controller.signal }))) {
        if (++seen === 2) {
          controller.abort();
          // While the loader is still paused at this batch its ring is alive and shared.
          expect(liveRings()).toHaveLength(1);
          expect(await heldRings(2)).toEqual([liveRings()[0], liveRings()[0]]);
        }
      }
    };
    await expect(run()).rejects.toThrow();
    expect(liveRings()).toEqual([]);
    expect(await heldRings(2)).toEqual([]);
  });

  it('reuses the ring memory of one pass for the next pass of the same shape, so memory does not grow per epoch, and the batches stay right', async () => {
    // An idle render thread never collects its views of a SharedArrayBuffer: a ring per pass
    // was never freed (RSS grew ~300 MB per epoch at batch 128, 224 px).
    const memoryOf = async (extra: Partial<LoaderOptions>) => {
      let buffer: ArrayBufferLike | undefined;
      const batches: Array<ReturnType<typeof contents>> = [];
      for await (const batch of createLoader(options(extra))) {
        buffer ??= batch.images.buffer;
        batches.push(contents(batch));
      }
      return { buffer, batches };
    };
    const first = await memoryOf({ epoch: 0 });
    const second = await memoryOf({ epoch: 1 });
    expect(second.buffer).toBe(first.buffer);
    expect(second.batches).toEqual((await reference({ epoch: 1 })).map(contents));
    // Another shape gets memory of its own.
    const other = await memoryOf({ epoch: 0, size: 16 });
    expect(other.buffer).not.toBe(first.buffer);
  });

  it('has each render thread render straight into the ring from its own region of the ring\'s wasm memory, past the pixels and the mix scratch', async () => {
    for (const extra of [{}, { dtype: 'uint8' as const }, { mix: { mode: 'mixup' as const } }, { layout: 'nhwc' as const, dtype: 'uint8' as const }]) {
      const loader = createLoader(options(extra));
      const iterator = loader[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      const [ring] = liveRings().slice(-1);
      // Both threads hold this ring with a region renderer.
      for (const direct of await sharedRenderPool(2).directRings()) expect(direct, JSON.stringify(extra)).toContain(ring);
      await iterator.return?.();
    }
    const settings = { size: 24, interpolation: 'bilinear' as const, layout: 'nchw' as const, dtype: 'float32' as const, normalization: imagenetNormalization, maxPixels: 1e6, decoder: 'fkd-jpeg-1' };
    const ring = new BatchRing(settings, 5, 2, 3, true, { mixWidth: 4, renderRegions: { count: 2, bytes: 100_001 } });
    const pixelsEnd = (ring.images.length + ring.mixScratch!.length) * 4;
    const regions = ring.renderRegions!.regions;
    expect(regions).toHaveLength(2);
    expect(regions[0]!.start).toBeGreaterThanOrEqual(pixelsEnd);
    expect(regions[1]!.start).toBeGreaterThanOrEqual(regions[0]!.end);
    for (const region of regions) expect(region.end - region.start).toBeGreaterThanOrEqual(100_001);
    expect(regions[1]!.end).toBeLessThanOrEqual(ring.renderRegions!.memory.buffer.byteLength);
    expect(ring.images.buffer).toBe(ring.renderRegions!.memory.buffer);
    ring.release();
    // Regions share a 1 GiB budget: 64 threads asking for 100 MB each get 16 MiB each.
    const many = new BatchRing(settings, 5, 2, 3, true, { renderRegions: { count: 64, bytes: 100e6 } });
    expect(many.renderRegions!.regions).toHaveLength(64);
    for (const region of many.renderRegions!.regions) expect(region.end - region.start).toBe(2 ** 24);
    many.release();
    // No render threads: no shared memory, no regions.
    const plain = new BatchRing(settings, 5, 2, 3, false, { renderRegions: { count: 2, bytes: 1000 } });
    expect(plain.renderRegions).toBeNull();
    plain.release();
  });

  it('fails with a clear FkdError, not a hang, when a render thread dies mid-epoch; the next loader starts fresh threads', async () => {
    const pool = sharedRenderPool(2);
    const loader = createLoader(options({ prefetch: 2 }));
    let batches = 0;
    const run = async () => {
      for await (const _ of loader) {
        // Fault injection: the thread stops as a crash would, with renders still out.
        if (++batches === 1) await (pool as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots[0]!.worker.terminate();
      }
    };
    const error = await run().then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(isFkdError(error, 'E_WORKER'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/Render thread 0 exited with code \d+.*iterate the loader again/);
    expect(batches).toBeLessThan(5);
    expect(liveRings()).toEqual([]);
    expect(pool.broken).toBe(true);
    const again = await reference();
    expect(again.length).toBeGreaterThan(5);
    expect(sharedRenderPool(2)).not.toBe(pool);
  });

  it('closes the gap a skipped image leaves, across slots, with threads rendering ahead', async () => {
    const { cp, unlink } = await import('node:fs/promises');
    const copy = join(work, 'images');
    await cp(FIXTURE_IMAGES, copy, { recursive: true });
    const full = await reference({ data: copy, shuffle: false });
    const gone = full[1]!.meta[3]!.path;
    await unlink(join(copy, ...gone.split('/')));
    const loader = createLoader(options({ data: copy, shuffle: false, onError: 'skip', prefetch: 2 }));
    const got: Array<{ meta: string; images: number[] }> = [];
    for await (const batch of loader) {
      for (let i = 0; i < batch.size; i++) got.push({ meta: JSON.stringify(batch.meta[i]), images: Array.from(batch.images.subarray(i * 3 * 24 * 24, (i + 1) * 3 * 24 * 24)) });
    }
    const want = full.flatMap((batch) => Array.from({ length: batch.size }, (_, i) => ({ meta: JSON.stringify(batch.meta[i]), images: Array.from(batch.images.subarray(i * 3 * 24 * 24, (i + 1) * 3 * 24 * 24)) }))).filter((s) => !s.meta.includes(`"${gone}"`));
    expect(loader.stats.skippedImages.map((s) => s.path)).toEqual([gone]);
    expect(got).toHaveLength(want.length);
    expect(got).toEqual(want);
  });
});
