import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { FkdError, isFkdError } from '../errors.js';
import { createLoader, type LoaderOptions } from '../loader/loader.js';
import { LOADER_SCHEMA, validateLoaderOptions } from '../loader/options.js';
import { checkAllocation, memoryBudget } from '../options/memory.js';
import { openLabels, type LabelSet } from '../store/labels.js';
import { slotLayout } from './layout.js';
import { defaultRingDirectory, RingFile } from './ring-file.js';

/** Version of the protocol in docs/serve-protocol.md; a client checks it in `ready`. */
export const SERVE_PROTOCOL = 1;

/** Slots in the ring when the client names none: two it may hold, two the server fills ahead. */
export const DEFAULT_SLOTS = 4;
const MIN_SLOTS = 3;
const MAX_SLOTS = 64;
/** A control line longer than this is refused rather than buffered. */
const MAX_LINE = 1 << 20;

/** The loader options a client may send: the schema's, the object groups and the two paths. Callbacks and signals stay in-process. */
const CLIENT_OPTIONS = new Set([...Object.keys(LOADER_SCHEMA), 'data', 'labels', 'shuffle', 'mix', 'target']);
/** Set per epoch by the `epoch` message, never in `open`. */
const PER_EPOCH = new Set(['epoch', 'startBatch']);

export interface ServeOptions {
  /** Control messages from the client, one JSON object per line; its end (the client died or closed it) stops the server. */
  input: Readable;
  /** Control messages to the client, one JSON object per line. */
  output: Writable;
  /** Where the ring file is made. Default /dev/shm (the OS temp folder where there is none). */
  directory?: string;
  signal?: AbortSignal;
}

type Message = Record<string, unknown>;
type Receive = (wait?: boolean) => Promise<Message | null | undefined>;

/**
 * Serves loader batches to one client (a training rank) over a ring of slots in a shared
 * file, with JSON lines as the control channel (docs/serve-protocol.md). Resolves when the
 * client closes or its input ends; the ring file is removed on every way out.
 *
 * Backpressure: a slot is filled only after the client released it, and the loader runs only
 * while a slot is free, so a slow client slows the server and nothing piles up.
 *
 * @example
 * await serveBatches({ input: process.stdin, output: process.stdout });
 */
export async function serveBatches(options: ServeOptions): Promise<void> {
  const send = (message: Message): void => {
    options.output.write(`${JSON.stringify(message)}\n`);
  };
  const lines = createInterface({ input: options.input, crlfDelay: Infinity });
  const inbox: Message[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  const notify = (): void => {
    const resume = wake;
    wake = null;
    resume?.();
  };
  lines.on('line', (line) => {
    inbox.push(parseLine(line));
    notify();
  });
  lines.on('close', () => {
    ended = true;
    notify();
  });
  const abort = (): void => {
    ended = true;
    notify();
  };
  options.signal?.addEventListener('abort', abort, { once: true });
  /** The next message, or null once the input has ended; with `wait` false, undefined when none is waiting. */
  const receive: Receive = async (wait = true) => {
    while (wait && inbox.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
    return ended ? null : inbox.shift();
  };

  let ring: RingFile | null = null;
  const closeRing = (): void => ring?.close();
  try {
    const first = await receive();
    if (!first) return;
    const opened = await openSession(first, options.directory ?? defaultRingDirectory());
    ring = opened.ring;
    // process.exit skips `finally`: the ring file must still go.
    process.on('exit', closeRing);
    send({ type: 'ready', ...opened.ready });
    for (let message = await receive(); message; message = await receive()) {
      if (message.type === 'close') return;
      // A release that crossed the end of an epoch: every slot is free between epochs.
      if (message.type === 'release') continue;
      // A stop that crossed the end: it is still answered, so a client can always wait for `stopped`.
      if (message.type === 'stop') {
        send({ type: 'stopped', epoch: null });
        continue;
      }
      if (message.type !== 'epoch') throw new FkdError('E_USAGE', `Expected an "epoch" or "close" message between epochs but received ${JSON.stringify(message.type)}.`);
      const ended = await runEpoch(message, opened.loaderOptions, ring, receive, send);
      if (ended === 'closed') return;
    }
  } catch (error) {
    send(errorMessage(error));
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    lines.close();
    process.off('exit', closeRing);
    closeRing();
  }
}

function parseLine(line: string): Message {
  if (line.length > MAX_LINE) return { type: 'invalid', reason: `a line of ${line.length} characters (at most ${MAX_LINE})` };
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Message;
    return { type: 'invalid', reason: 'not a JSON object' };
  } catch {
    return { type: 'invalid', reason: 'not JSON' };
  }
}

function errorMessage(error: unknown): Message {
  if (isFkdError(error)) return { type: 'error', code: error.code, message: error.message };
  return { type: 'error', code: 'E_INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

/** Checks the `open` message, opens the labels, and makes the ring. */
async function openSession(message: Message, directory: string) {
  if (message.type !== 'open') throw new FkdError('E_USAGE', `Expected an "open" message first but received ${JSON.stringify(message.type)}.`);
  if (message.version !== SERVE_PROTOCOL) throw new FkdError('E_USAGE', `Expected protocol version ${SERVE_PROTOCOL} but the client speaks ${JSON.stringify(message.version)}.`);
  const slots = message.slots ?? DEFAULT_SLOTS;
  if (!Number.isSafeInteger(slots) || (slots as number) < MIN_SLOTS || (slots as number) > MAX_SLOTS) throw new FkdError('E_USAGE', `Expected slots in ${MIN_SLOTS}..${MAX_SLOTS} but received ${JSON.stringify(slots)}.`);
  const given = message.options;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new FkdError('E_USAGE', 'Expected the loader options as an object in "options".');
  const record = given as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !CLIENT_OPTIONS.has(key) || PER_EPOCH.has(key));
  if (unknown.length > 0) throw new FkdError('E_USAGE', `Unknown or per-epoch option${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => JSON.stringify(key)).join(', ')} in "open"; the loader options are ${[...CLIENT_OPTIONS].filter((key) => !PER_EPOCH.has(key)).join(', ')} (epoch and startBatch come with each "epoch").`);
  if (typeof record.labels !== 'string') throw new FkdError('E_USAGE', `Expected a label store path or URL for labels but received ${typeof record.labels}.`);
  if (typeof record.data !== 'string') throw new FkdError('E_USAGE', `Expected a dataset folder for data but received ${typeof record.data}.`);
  // The loader's own rules, before the store is read: epoch 0 stands in for the per-epoch values.
  validateLoaderOptions({ ...record, labels: {}, epoch: 0 });
  const labels = await openLabels(record.labels);
  const loaderOptions = { ...(record as Omit<LoaderOptions, 'labels' | 'epoch'>), labels };
  validateLoaderOptions({ ...loaderOptions, epoch: 0 });
  const manifest = labels.manifest;
  const topK = manifest.codec.topK;
  const shape = {
    batchSize: loaderOptions.batchSize,
    imageSize: loaderOptions.size ?? manifest.teacher.inputSize,
    dtype: loaderOptions.dtype ?? 'float32',
    numClasses: labels.numClasses,
    width: loaderOptions.mix === undefined ? topK : Math.min(2 * topK, labels.numClasses),
  };
  const count = slots as number;
  // Checked before the file exists: the ring is memory (tmpfs), and the budget is the loader's.
  const { slotBytes } = slotLayout(shape);
  checkAllocation('The batch ring', count * slotBytes, `${count} slots × ${slotBytes} bytes`, memoryBudget(loaderOptions.memory), 'Lower batchSize, size or slots.');
  const probe = new RingFile(directory, count, shape);
  const ready = {
    version: SERVE_PROTOCOL,
    path: probe.path,
    slots: count,
    slotBytes: probe.slotBytes,
    sections: probe.sections,
    batchSize: shape.batchSize,
    imageSize: shape.imageSize,
    dtype: shape.dtype,
    layout: loaderOptions.layout ?? 'nhwc',
    numClasses: shape.numClasses,
    topK,
    crops: labels.crops,
    classes: manifest.dataset.classes,
    normalization: { mean: manifest.teacher.mean, std: manifest.teacher.std },
    batches: plannedBatches(labels, loaderOptions),
  };
  return { ring: probe, ready, loaderOptions };
}

/**
 * Batches per epoch for this rank when every labelled image is readable (the loader's split:
 * every worldSize-th image from rank). `end` reports what an epoch actually gave.
 */
function plannedBatches(labels: LabelSet, options: { batchSize: number; rank?: number; worldSize?: number; dropLast?: boolean }): number {
  const images = labels.manifest.dataset.images - labels.manifest.dataset.skipped.length;
  const mine = Math.max(0, Math.ceil((images - (options.rank ?? 0)) / (options.worldSize ?? 1)));
  const crops = mine * labels.crops;
  return options.dropLast ? Math.floor(crops / options.batchSize) : Math.ceil(crops / options.batchSize);
}

/**
 * Streams one epoch into the ring. The client holds a slot from the `batch` message that names
 * it until it sends `release`; `stop` ends the epoch early (every slot is then free again).
 */
async function runEpoch(
  message: Message,
  base: Omit<LoaderOptions, 'epoch'>,
  ring: RingFile,
  receive: Receive,
  send: (message: Message) => void,
): Promise<'done' | 'stopped' | 'closed'> {
  const epoch = message.epoch;
  const startBatch = message.startBatch ?? 0;
  const controller = new AbortController();
  const free: number[] = Array.from({ length: ring.slots }, (_, slot) => slot);
  // An object, not a `let`: the handler sets it, and a `let` narrowed in the loop would hide that.
  const state: { outcome: 'done' | 'stopped' | 'closed' } = { outcome: 'done' };
  /** Takes one control message while an epoch runs. */
  const handle = (next: Message | null | undefined): void => {
    if (next === undefined) return;
    if (next === null || next.type === 'close') state.outcome = 'closed';
    else if (next.type === 'stop') state.outcome = 'stopped';
    else if (next.type === 'release') {
      const slot = next.slot;
      if (!Number.isSafeInteger(slot) || (slot as number) < 0 || (slot as number) >= ring.slots || free.includes(slot as number)) throw new FkdError('E_USAGE', `Expected the release of a slot the client holds but received ${JSON.stringify(slot)}.`);
      free.push(slot as number);
      return;
    } else throw new FkdError('E_USAGE', `Expected "release", "stop" or "close" during an epoch but received ${JSON.stringify(next.type)}.`);
    controller.abort();
  };
  try {
    const loader = createLoader({ ...base, epoch: epoch as number, startBatch: startBatch as number, signal: controller.signal });
    let index = startBatch as number;
    for await (const batch of loader) {
      for (let next = await receive(false); next !== undefined && state.outcome === 'done'; next = await receive(false)) handle(next);
      while (free.length === 0 && state.outcome === 'done') handle(await receive());
      if (state.outcome !== 'done') break;
      const slot = free.shift()!;
      ring.write(slot, batch);
      send({ type: 'batch', epoch, index: index++, slot, size: batch.size, width: batch.targets.topK, paths: uniquePaths(batch) });
    }
    if (state.outcome === 'done') {
      const stats = loader.stats;
      send({ type: 'end', epoch, batches: stats.batches, images: stats.images, crops: stats.crops, decodes: stats.decodes, skippedImages: stats.skippedImages, skippedShards: stats.skippedShards });
    }
  } catch (error) {
    if (state.outcome === 'done') {
      // The epoch failed; the server stays up for another `epoch` message.
      send(errorMessage(error));
      return 'done';
    }
  }
  if (state.outcome === 'stopped') send({ type: 'stopped', epoch });
  return state.outcome;
}

/** Each image of a batch once: `[imageIndex, path]`, so the client can name a sample's file without a path per crop. */
function uniquePaths(batch: { meta: Array<{ imageIndex: number; path: string }> }): Array<[number, string]> {
  const seen = new Map<number, string>();
  for (const meta of batch.meta) if (!seen.has(meta.imageIndex)) seen.set(meta.imageIndex, meta.path);
  return [...seen];
}
