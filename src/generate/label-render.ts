import type { DecodedImage } from '../dataset/image.js';
import type { ImageLocation } from '../dataset/source.js';
import { collectGarbage } from '../pipeline/collect-garbage.js';
import { openImage, renderPlaces, type RingViews } from '../render/job.js';
import { sharedRenderPool, type HeldImage } from '../render/pool.js';
import type { WasmMemory } from '../wasm-api.js';

/** An image the label pass opened: its size and content hash, its pixels held where its crops are rendered. */
export interface OpenImage {
  width: number;
  height: number;
  hash: Uint8Array;
}

/** What `open` needs besides the file. */
export interface OpenOptions {
  maxPixels: number;
  allowSvg: boolean;
  /** Hears the pixel count once the header is read; decoding waits for it, on a render thread only above `freely` pixels. */
  admit: (pixels: number) => Promise<void>;
  freely: number;
}

/**
 * The label pass's render stage: decodes each image once and renders its crops straight into
 * the teacher's input ring, on render threads or on the calling thread.
 */
export interface LabelRenderStage {
  /** Reads, hashes and decodes an image, and holds it until its last crops are drawn. */
  open(file: ImageLocation, name: string, options: OpenOptions): Promise<OpenImage>;
  /** Renders crops of `image` into ring places `places` (their boxes stored there); `last` lets the image go (`collect`: and frees its memory now). */
  draw(image: OpenImage, places: number[], last: boolean, collect: boolean): Promise<void>;
  /** Lets go of every image still held, and of the ring (after every job has settled). */
  close(): void;
}

/**
 * Renders on `threads` shared render threads (the loader's), or on the calling thread when
 * `threads` is 0. Both run the same code on the same pixels, so the teacher sees the same
 * bytes at any thread count. `ring.images` must be a SharedArrayBuffer view for threads.
 *
 * @example
 * const stage = labelRenderStage(ring, 2);
 * const image = await stage.open(file, name, { maxPixels, allowSvg: false, freely: 2 ** 20, admit });
 * await stage.draw(image, [0, 1, 2, 3], true, false);
 * stage.close();
 */
/** The ring a stage renders into: its views, its id with the render threads, and its wasm memory's per-thread regions when it has them. */
export type LabelRing = RingViews & { id: number; regions: { memory: WasmMemory; regions: Array<{ start: number; end: number }> } | null };

export function labelRenderStage(ring: LabelRing, threads: number): LabelRenderStage {
  return threads === 0 ? mainThreadStage(ring) : threadStage(ring, threads);
}

function mainThreadStage(ring: RingViews): LabelRenderStage {
  const pixels = new WeakMap<OpenImage, DecodedImage>();
  return {
    async open(file, name, options) {
      const { image, hash } = await openImage(file, name, options);
      const opened = { width: image.width, height: image.height, hash };
      pixels.set(opened, image);
      return opened;
    },
    async draw(image, places, last, collect) {
      renderPlaces(ring, pixels.get(image)!, places);
      if (!last) return;
      pixels.delete(image);
      // Its buffer is freed only when the collector runs (and native finalizers after it); for
      // a large image, now, so the next decode the budget admits does not sit on top of it.
      if (collect) await collectGarbage();
    },
    close: () => undefined,
  };
}

function threadStage(ring: LabelRing, threads: number): LabelRenderStage {
  const pool = sharedRenderPool(threads);
  pool.register(ring.id, ring.settings, ring.images.buffer as SharedArrayBuffer, ring.boxes.buffer as SharedArrayBuffer, ring.regions);
  // Held until their last draw: what `close` must drop when a pass stops half way.
  const held = new Set<HeldImage>();
  return {
    async open(file, name, options) {
      const image = await pool.open(file, name, options);
      held.add(image);
      return image;
    },
    async draw(image, places, last, collect) {
      const thread = image as HeldImage;
      if (last) held.delete(thread);
      await pool.draw(thread, ring.id, places, last, collect);
    },
    close() {
      for (const image of held) pool.drop(image);
      held.clear();
      pool.release(ring.id);
    },
  };
}
