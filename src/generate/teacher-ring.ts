import type { CropSpec } from '../crop/box.js';
import type { Interpolation } from '../crop/render.js';
import type { Layout, Normalization } from '../crop/tensor.js';
import { ringRegionBytes } from '../crop/render-wasm.js';
import { BOX_FIELDS, type RingViews } from '../render/job.js';
import { newRingId } from '../render/pool.js';
import { WASM_PAGE, type WasmApi, type WasmMemory } from '../wasm-api.js';
import type { LabelSink, TeacherBatcher } from './teacher-batcher.js';

/** How the teacher wants its input. */
export interface TeacherInput {
  size: number;
  layout: Layout;
  normalization: Normalization;
  interpolation: Interpolation;
  maxPixels: number;
}

/**
 * Each render thread's region of the ring's wasm memory fits a decoded image up to this side
 * (about 17 MiB at 224 px): its crops are rendered straight into the batch with no copy. A
 * larger image goes the copying way, to the same bytes. Pages are only committed when touched.
 */
const REGION_IMAGE_SIDE = 2048;

/** Offsets are i32 in wasm: the ring stays below 2 GiB or it goes without regions. */
const MAX_WASM_BYTES = 2 ** 31 - WASM_PAGE;

/** One teacher batch of the ring. */
interface Slot {
  sinks: LabelSink[];
  tags: Int32Array;
  /** Renders still writing into this batch. */
  renders: Array<Promise<void>>;
  /** Settles once the teacher has read this batch, so it can be filled again. */
  free: Promise<void>;
}

/**
 * A ring of teacher input batches in shared memory: render threads write crops straight into
 * batch k+1 (and k+2) while batch k is with the teacher. Rows are handed out strictly in
 * order and batches go to the teacher in order, so every batch holds the same crops, in the
 * same rows, whatever the thread count: the labels cannot depend on it.
 *
 * @example
 * const ring = new TeacherRing(batcher, { size: 224, layout: 'nchw', normalization, interpolation: 'bicubic', maxPixels }, 32, 3, 2);
 * const place = await ring.claim(columns, tag, box);
 * ring.track(stage.draw(image, [place], true, false));
 * if (ring.full) ring.send();
 * await ring.flush();
 */
export class TeacherRing {
  readonly id = newRingId();
  /** Every batch's pixels and boxes, back to back, as render threads see them. */
  readonly views: RingViews;
  /** The pixels' shared WebAssembly.Memory and each render thread's region of it; null when the ring is not in wasm memory. */
  readonly renderRegions: { memory: WasmMemory; regions: Array<{ start: number; end: number }> } | null;
  private readonly images: Float32Array;
  private readonly slots: Slot[];
  private readonly rowLength: number;
  /** Batches handed out so far; the one being filled is `batches % slots.length`. */
  private batches = 0;
  /** Rows filled in the current batch. */
  private row = 0;
  /** The teacher's runs, one after another, in batch order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly batcher: TeacherBatcher,
    input: TeacherInput,
    private readonly batchSize: number,
    slots: number,
    /** Render threads that write into the ring (0: none; its memory is then plain). */
    threads: number,
  ) {
    this.rowLength = 3 * input.size * input.size;
    const samples = batchSize * slots;
    const pixelBytes = samples * this.rowLength * Float32Array.BYTES_PER_ELEMENT;
    const memory = (bytes: number) => (threads > 0 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    const wasm = threads > 0 ? ringWasm(pixelBytes, threads, ringRegionBytes(REGION_IMAGE_SIDE, REGION_IMAGE_SIDE, input.size)) : null;
    this.renderRegions = wasm;
    this.images = new Float32Array(wasm ? wasm.memory.buffer : memory(pixelBytes), 0, samples * this.rowLength);
    this.views = {
      settings: { ...input, dtype: 'float32', decoder: undefined },
      images: this.images,
      boxes: new Uint32Array(memory(samples * BOX_FIELDS * Uint32Array.BYTES_PER_ELEMENT)),
      renderer: null,
    };
    this.slots = Array.from({ length: slots }, () => ({ sinks: [], tags: new Int32Array(batchSize), renders: [], free: Promise.resolve() }));
  }

  /**
   * The ring place of the next crop, whose label goes to `sink` with `tag` and whose box is
   * `crop`; waits while the teacher still reads that batch's previous contents.
   */
  async claim(sink: LabelSink, tag: number, crop: CropSpec): Promise<number> {
    const index = this.batches % this.slots.length;
    const slot = this.slots[index]!;
    if (this.row === 0) await slot.free;
    const place = index * this.batchSize + this.row;
    slot.sinks[this.row] = sink;
    slot.tags[this.row] = tag;
    const at = place * BOX_FIELDS;
    const boxes = this.views.boxes;
    boxes[at] = crop.top;
    boxes[at + 1] = crop.left;
    boxes[at + 2] = crop.height;
    boxes[at + 3] = crop.width;
    boxes[at + 4] = crop.flip ? 1 : 0;
    this.row++;
    return place;
  }

  /** True when the current batch has every row claimed: `send` it after tracking its renders. */
  get full(): boolean {
    return this.row === this.batchSize;
  }

  /** A render writing into the current batch: the teacher waits for it. */
  track(render: Promise<void>): void {
    // Seen here so a failure after an earlier one is never reported as unhandled; the
    // teacher's wait below reports it.
    render.catch(() => undefined);
    this.slots[this.batches % this.slots.length]!.renders.push(render);
  }

  /** Sends the current batch to the teacher once its renders are done, and moves to the next. */
  send(): void {
    const rows = this.row;
    if (rows === 0) return;
    const index = this.batches % this.slots.length;
    const slot = this.slots[index]!;
    const renders = slot.renders.splice(0);
    const input = this.images.subarray(index * this.batchSize * this.rowLength, (index * this.batchSize + rows) * this.rowLength);
    this.chain = this.chain.then(async () => {
      await Promise.all(renders);
      await this.batcher.run(input, rows, slot.sinks, slot.tags);
    });
    slot.free = this.chain;
    // A failed run is reported by the next `claim` of its batch or by `flush`, whichever comes first.
    this.chain.catch(() => undefined);
    this.batches++;
    this.row = 0;
  }

  /** Sends a short last batch, if any, and waits for every teacher run. */
  async flush(): Promise<void> {
    this.send();
    await this.chain;
  }

  /** Waits for every render still tracked (after a failure, before the ring is given up). */
  async settle(): Promise<void> {
    await Promise.allSettled([this.chain, ...this.slots.flatMap((slot) => slot.renders)]);
  }
}

/**
 * The ring's pixels as a shared wasm memory with one render region per thread after them, or
 * null where that cannot be had (no WebAssembly, too large, no address space): the ring is
 * then a plain SharedArrayBuffer and threads render through a copy, to the same bytes.
 */
function ringWasm(pixelBytes: number, threads: number, regionBytes: number): { memory: WasmMemory; regions: Array<{ start: number; end: number }> } | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  const at = Math.ceil(pixelBytes / 16) * 16;
  const stride = Math.ceil(regionBytes / 16) * 16;
  const bytes = at + threads * stride;
  if (!api || bytes > MAX_WASM_BYTES) return null;
  try {
    const pages = Math.ceil(bytes / WASM_PAGE);
    const memory = new api.Memory({ initial: pages, maximum: pages, shared: true });
    return { memory, regions: Array.from({ length: threads }, (_, i) => ({ start: at + i * stride, end: at + (i + 1) * stride })) };
  } catch {
    return null;
  }
}
