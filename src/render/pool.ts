import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LabelledImage } from '../dataset/labelled.js';
import type { ImageLocation } from '../dataset/source.js';
import { FkdError, type FkdErrorCode, type FkdErrorDetails } from '../errors.js';
import type { WasmMemory } from '../wasm-api.js';
import type { ImageJob, ImageJobResult, RenderSettings } from './job.js';

/** Messages to a render thread. */
export type WorkerRequest =
  | { kind: 'job'; id: number; job: ImageJob }
  | { kind: 'ring'; ring: number; settings: RenderSettings; images: SharedArrayBuffer; boxes: SharedArrayBuffer; region?: { memory: WasmMemory; start: number; end: number } }
  | { kind: 'render'; id: number; ring: number; file: ImageLocation; name: string; expected: LabelledImage; places: number[] }
  | { kind: 'release'; ring: number }
  | { kind: 'rings'; id: number }
  | { kind: 'open'; id: number; file: ImageLocation; name: string; maxPixels: number; allowSvg: boolean; freely: number }
  | { kind: 'admitted'; id: number; refused?: string }
  | { kind: 'draw'; id: number; ring: number; image: number; places: number[]; last: boolean; collect: boolean }
  | { kind: 'drop'; image: number };

/** Answers from a render thread. */
export interface WorkerReply {
  id: number;
  result?: ImageJobResult;
  rings?: number[];
  /** Of `rings`, those the thread renders into straight from its region of the ring's memory. */
  direct?: number[];
  /** A render job's image was decoded by the thread itself, not by sharp. */
  inThread?: boolean;
  /** An `open` job asks to be admitted with this many pixels before it decodes them; the job goes on. */
  admit?: number;
  /** With `admit`: the thread decodes without waiting for the answer (the image is below `freely`). */
  early?: boolean;
  /** An `open` job's image, now held by the thread under the job's id. */
  opened?: { width: number; height: number; hash: Uint8Array; inThread: boolean };
  error?: { code: FkdErrorCode; message: string; details: FkdErrorDetails };
}

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (error: unknown) => void;
  /** What the job was rendering, for the error if a thread dies. */
  name: string;
  /** For an `open` job: admits its pixels (`DecodeOptions.admit`). */
  admit?: ((pixels: number) => Promise<void>) | undefined;
  /** An admission the thread did not wait for: the job's answer waits for it instead. */
  admitted?: Promise<void>;
}

/** An image decoded and held by one render thread (`RenderPool.open`), until its last crops are drawn or it is dropped. */
export interface HeldImage {
  width: number;
  height: number;
  /** Content hash of the bytes it was decoded from. */
  hash: Uint8Array;
  /** Decoded by the thread itself, not by sharp. */
  inThread: boolean;
  /** The thread that holds it, and its key there. */
  readonly slot: number;
  readonly key: number;
}

interface Slot {
  worker: Worker;
  busy: number;
}

const RESTART = 'The pass stops rather than wait for crops that will never come: iterate the loader again, or run the label command again to resume; either gets fresh render threads.';

/**
 * Worker threads that decode and render images, so crops are produced on every core while
 * the main thread only schedules work (and the training step runs). Loaders register their
 * batch ring with every thread once; after that a job names only the file and the samples
 * its crops go to, and the pixels are written straight into the shared ring.
 */
export class RenderPool {
  private readonly slots: Slot[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closing = false;
  /** Why the pool broke (a thread died); a broken pool is replaced rather than reused. */
  private failure: string | null = null;

  constructor(threads: number) {
    const entry = workerEntry();
    this.slots = Array.from({ length: threads }, (_, index) => {
      const worker = new Worker(entry);
      const slot: Slot = { worker, busy: 0 };
      worker.on('message', (message: WorkerReply) => {
        const pending = this.pending.get(message.id);
        if (!pending) return;
        if (message.admit !== undefined) {
          if (message.early) {
            pending.admitted = pending.admit!(message.admit);
            pending.admitted.catch(() => undefined); // observed with the job's answer
            return;
          }
          const answer = (refused?: string) => {
            if (!this.broken) worker.postMessage({ kind: 'admitted', id: message.id, ...(refused === undefined ? {} : { refused }) } satisfies WorkerRequest);
          };
          pending.admit!(message.admit).then(
            () => answer(),
            (error: unknown) => answer(error instanceof Error ? error.message : String(error)),
          );
          return;
        }
        this.pending.delete(message.id);
        this.settle(slot);
        const error = message.error;
        const answer = () => (error ? pending.reject(new FkdError(error.code, error.message, error.details)) : pending.resolve(message));
        // An early admission settles first, so whoever holds the budget knows what the job holds.
        if (pending.admitted) pending.admitted.then(answer, error ? answer : pending.reject);
        else answer();
      });
      const fail = (why: string, cause?: unknown) => {
        if (this.closing) return;
        // One dead thread breaks the pool: every job still out is failed (none would ever
        // answer if its thread is gone, and a half-rendered batch cannot be trusted), the
        // other threads are stopped, and the next loader gets a fresh pool.
        this.failure = `Render thread ${index} ${why}`;
        for (const pending of this.pending.values()) {
          pending.reject(
            new FkdError('E_WORKER', `${this.failure}, so ${pending.name} was not rendered. ${RESTART}`, {
              path: pending.name,
              ...(cause === undefined ? {} : { cause }),
            }),
          );
        }
        this.pending.clear();
        void this.close();
      };
      worker.on('error', (error) => fail(`failed (${error instanceof Error ? error.message : String(error)})`, error));
      worker.on('exit', (code) => fail(`exited with code ${code}`));
      // Idle until given work. After the listeners: attaching one refs the worker's port again.
      worker.unref();
      return slot;
    });
  }

  /** Renders a job into a fresh buffer that is transferred back. */
  async run(job: ImageJob): Promise<ImageJobResult> {
    const reply = await this.request(this.leastBusy(), job.name, (id) => ({ kind: 'job', id, job }));
    return reply.result!;
  }

  /**
   * Shares a batch ring's pixel and box memory with every thread, under the id `ring`; with
   * `regions` (one per thread), thread i renders in region i of the ring's wasm memory.
   */
  register(ring: number, settings: RenderSettings, images: SharedArrayBuffer, boxes: SharedArrayBuffer, regions: { memory: WasmMemory; regions: Array<{ start: number; end: number }> } | null = null): void {
    this.assertUsable();
    this.slots.forEach((slot, i) => {
      const region = regions?.regions[i];
      slot.worker.postMessage({ kind: 'ring', ring, settings, images, boxes, ...(regions && region ? { region: { memory: regions.memory, ...region } } : {}) } satisfies WorkerRequest);
    });
  }

  /** Decodes `file`, checks it against `expected`, and renders its crops into samples `places` of ring `ring`; true when the thread decoded it itself. */
  async render(ring: number, file: ImageLocation, name: string, expected: LabelledImage, places: number[]): Promise<boolean> {
    const reply = await this.request(this.leastBusy(), name, (id) => ({ kind: 'render', id, ring, file, name, expected, places }));
    return reply.inThread === true;
  }

  /**
   * Reads `file`, hashes it and decodes it (`openImage`) on the least busy thread, which
   * holds the pixels for `draw`; `admit` hears the pixel count before they are decoded. An
   * image of at most `freely` pixels is decoded without waiting for the answer (a round trip
   * to this thread, which may be busy): it resolves only once admitted all the same.
   */
  async open(file: ImageLocation, name: string, options: { maxPixels: number; allowSvg: boolean; freely: number; admit: (pixels: number) => Promise<void> }): Promise<HeldImage> {
    const slot = this.leastBusy();
    const reply = await this.request(slot, name, (id) => ({ kind: 'open', id, file, name, maxPixels: options.maxPixels, allowSvg: options.allowSvg, freely: options.freely }), options.admit);
    return { ...reply.opened!, slot: this.slots.indexOf(slot), key: reply.id };
  }

  /**
   * Renders crops of a held image into samples `places` of ring `ring` (boxes already stored
   * there). With `last` the thread then lets the image go, collecting garbage first with `collect`.
   */
  async draw(image: HeldImage, ring: number, places: number[], last: boolean, collect = false): Promise<void> {
    await this.request(this.slots[image.slot]!, `crops of image ${image.key}`, (id) => ({ kind: 'draw', id, ring, image: image.key, places, last, collect }));
  }

  /** Lets a held image go without drawing it (the pass stopped). */
  drop(image: HeldImage): void {
    if (!this.broken) this.slots[image.slot]!.worker.postMessage({ kind: 'drop', image: image.key } satisfies WorkerRequest);
  }

  /** Every thread drops its views of ring `ring`, so the memory can be freed. */
  release(ring: number): void {
    if (this.broken) return;
    for (const slot of this.slots) slot.worker.postMessage({ kind: 'release', ring } satisfies WorkerRequest);
  }

  /** The rings each thread still holds (for tests and diagnostics). */
  async heldRings(): Promise<number[][]> {
    return (await this.ringQuery()).map((reply) => reply.rings!);
  }

  /** The rings each thread renders into straight from its region of their memory (for tests and diagnostics). */
  async directRings(): Promise<number[][]> {
    return (await this.ringQuery()).map((reply) => reply.direct!);
  }

  private ringQuery(): Promise<WorkerReply[]> {
    return Promise.all(this.slots.map((slot) => this.request(slot, 'a ring query', (id) => ({ kind: 'rings', id }))));
  }

  /** Number of threads. */
  get size(): number {
    return this.slots.length;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private request(slot: Slot, name: string, message: (id: number) => WorkerRequest, admit?: (pixels: number) => Promise<void>): Promise<WorkerReply> {
    this.assertUsable();
    const id = this.nextId++;
    if (slot.busy++ === 0) slot.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, name, admit });
      slot.worker.postMessage(message(id));
    });
  }

  private settle(slot: Slot): void {
    // An idle worker must not keep the process alive; a busy one must.
    if (--slot.busy === 0) slot.worker.unref();
  }

  private leastBusy(): Slot {
    return this.slots.reduce((best, s) => (s.busy < best.busy ? s : best));
  }

  /** True once a thread died. */
  get broken(): boolean {
    return this.failure !== null;
  }

  private assertUsable(): void {
    if (this.failure !== null) throw new FkdError('E_WORKER', `${this.failure}. ${RESTART}`);
  }
}

/**
 * The compiled worker next to this module. Under a TypeScript runner (tests) this module is
 * the .ts source, so the compiled copy in dist/ is used instead; `npm test` builds first.
 */
function workerEntry(): URL {
  const beside = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  const built = new URL('../../dist/render/worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new FkdError('E_IO', `Cannot find the render worker (${fileURLToPath(beside)}). Run "npm run build" first.`);
}

let nextRing = 1;

/** A ring id no other ring of this process has, for `register`: loaders and label passes share the pools. */
export function newRingId(): number {
  return nextRing++;
}

const shared = new Map<number, RenderPool>();

/**
 * A pool of `threads` render workers shared by every loader in the process. Starting a worker
 * loads sharp and the renderer (a few hundred milliseconds), which a loader per epoch would
 * otherwise pay every epoch. Idle workers are unref'd, so they never keep the process alive.
 */
export function sharedRenderPool(threads: number): RenderPool {
  let pool = shared.get(threads);
  if (!pool || pool.broken) {
    pool = new RenderPool(threads);
    shared.set(threads, pool);
  }
  return pool;
}
