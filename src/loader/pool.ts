import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FkdError, type FkdErrorCode } from '../errors.js';
import type { ImageJob, ImageJobResult } from './job.js';

interface Pending {
  resolve: (result: ImageJobResult) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * Worker threads that decode and render images, so crops are produced on every core while
 * the main thread only assembles batches (and the training step runs).
 */
export class RenderPool {
  private readonly slots: Slot[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Set when a worker died; a broken pool is replaced rather than reused. */
  broken = false;

  constructor(threads: number) {
    const entry = workerEntry();
    this.slots = Array.from({ length: threads }, () => {
      const worker = new Worker(entry);
      worker.on('message', (message: { id: number; result?: ImageJobResult; error?: { code: FkdErrorCode; message: string; path?: string } }) => {
        const pending = this.pending.get(message.id);
        this.pending.delete(message.id);
        const slot = this.slots.find((s) => s.worker === worker);
        // An idle worker must not keep the process alive; a busy one must.
        if (slot && --slot.busy === 0) worker.unref();
        if (!pending) return;
        if (message.error) pending.reject(new FkdError(message.error.code, message.error.message, message.error.path === undefined ? {} : { path: message.error.path }));
        else pending.resolve(message.result!);
      });
      worker.on('error', (error) => {
        this.broken = true;
        for (const pending of this.pending.values()) pending.reject(error);
        this.pending.clear();
      });
      // Idle until given work. After the listeners: attaching one refs the worker's port again.
      worker.unref();
      return { worker, busy: 0 };
    });
  }

  run(job: ImageJob): Promise<ImageJobResult> {
    const slot = this.slots.reduce((best, s) => (s.busy < best.busy ? s : best));
    const id = this.nextId++;
    if (slot.busy++ === 0) slot.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
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
