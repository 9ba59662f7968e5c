import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LabelledImage } from '../dataset/labelled.js';
import type { ImageLocation } from '../dataset/source.js';
import { FkdError, type FkdErrorCode } from '../errors.js';
import type { WasmMemory } from '../wasm-api.js';
import type { ImageJob, ImageJobResult, RenderSettings } from './job.js';

/** Messages to a render thread. */
export type WorkerRequest =
  | { kind: 'job'; id: number; job: ImageJob }
  | { kind: 'ring'; ring: number; settings: RenderSettings; images: SharedArrayBuffer; boxes: SharedArrayBuffer; region?: { memory: WasmMemory; start: number; end: number } }
  | { kind: 'render'; id: number; ring: number; file: ImageLocation; name: string; expected: LabelledImage; places: number[] }
  | { kind: 'release'; ring: number }
  | { kind: 'rings'; id: number };

/** Answers from a render thread. */
export interface WorkerReply {
  id: number;
  result?: ImageJobResult;
  rings?: number[];
  /** Of `rings`, those the thread renders into straight from its region of the ring's memory. */
  direct?: number[];
  /** A render job's image was decoded by the thread itself, not by sharp. */
  inThread?: boolean;
  error?: { code: FkdErrorCode; message: string; path?: string };
}

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (error: unknown) => void;
  /** What the job was rendering, for the error if a thread dies. */
  name: string;
}

interface Slot {
  worker: Worker;
  busy: number;
}

const RESTART = 'The loader stops rather than wait for crops that will never come; iterate it again to get fresh render threads.';

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
        this.pending.delete(message.id);
        this.settle(slot);
        if (message.error) pending.reject(new FkdError(message.error.code, message.error.message, message.error.path === undefined ? {} : { path: message.error.path }));
        else pending.resolve(message);
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

  private request(slot: Slot, name: string, message: (id: number) => WorkerRequest): Promise<WorkerReply> {
    this.assertUsable();
    const id = this.nextId++;
    if (slot.busy++ === 0) slot.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, name });
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
  const built = new URL('../../dist/loader/worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new FkdError('E_IO', `Cannot find the render worker (${fileURLToPath(beside)}). Run "npm run build" first.`);
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
