import { FkdError } from '../errors.js';
import { checkAllocation, memoryBudget, threadCap } from '../options/memory.js';
import { checkOptions, choice, decimal, flag, integer, type Naming } from '../options/schema.js';

/**
 * The loader's options as a schema, shared by `createLoader` and the CLI commands that
 * build a loader (`fkd train`, `fkd bench loader`). Kept apart from the loader itself so
 * the pipeline can change shape without touching what it accepts.
 */
export const LOADER_SCHEMA = {
  epoch: integer({ flag: '--epoch', summary: 'student epoch', min: 0, max: Number.MAX_SAFE_INTEGER }),
  batchSize: integer({ flag: '--batch-size', summary: 'crops per batch', min: 1, max: 65_536 }),
  size: integer({ flag: '--size', value: '<px>', summary: 'crop side in pixels', min: 1, max: 16_384 }),
  interpolation: choice({ flag: '--interpolation', value: '<kind>', summary: 'resampling filter', choices: ['bicubic', 'bilinear'] as const }),
  layout: choice({ flag: '--layout', value: '<layout>', summary: 'batch layout', choices: ['nchw', 'nhwc'] as const }),
  dtype: choice({ flag: '--dtype', value: '<type>', summary: 'pixel type', choices: ['float32', 'uint8'] as const }),
  dropLast: flag({ flag: '--drop-last', summary: 'drop the last, short batch' }),
  prefetch: integer({ flag: '--prefetch', summary: 'batches prepared ahead', min: 0, max: 64 }),
  concurrency: integer({ flag: '--concurrency', summary: 'image decodes in flight beyond the prefetched batches', min: 1, max: 1024 }),
  workers: integer({ flag: '--workers', summary: 'render threads (0: on the main thread)', min: 0, max: 4096, cap: () => threadCap() }),
  startBatch: integer({ flag: '--start-batch', summary: "first batch to yield (resume mid-epoch): batches from it on are those of the whole epoch; the images of the batches before it are not read", min: 0, max: Number.MAX_SAFE_INTEGER }),
  rank: integer({ flag: '--rank', summary: 'this process among worldSize', min: 0, max: 100_000 }),
  worldSize: integer({ flag: '--world-size', summary: 'processes sharing an epoch', min: 1, max: 100_000 }),
  onError: choice({ flag: '--on-error', value: '<policy>', summary: 'missing or unreadable images and damaged shards', choices: ['throw', 'skip'] as const }),
  temperature: decimal({ flag: '--temperature', value: '<t>', summary: 'sharpen (<1) or soften (>1) the stored labels', min: 0.001, max: 1000 }),
  decoder: choice({ flag: '--decoder', value: '<decoder>', summary: "JPEG decoding: auto follows the store's rule (plain JPEGs decoded in the thread by WebAssembly MozJPEG, the rest by sharp); sharp always uses libvips", choices: ['auto', 'sharp'] as const }),
  memory: integer({ flag: '--memory', value: '<MiB>', summary: "memory the loader may plan for (default: half of the machine's or container's); a quarter of it bounds the pixels being decoded at once", min: 64, max: 2 ** 30 }),
};

/** The loader's `mix` option: Mixup and CutMix within each batch (fields of one object). */
export const MIX_SCHEMA = {
  mode: choice({ flag: '--mix', value: '<mode>', summary: 'mix each crop with another of its batch: Mixup blends, CutMix pastes a box, both picks one per crop', choices: ['mixup', 'cutmix', 'both'] as const }),
  alpha: decimal({ flag: '--mix-alpha', value: '<a>', summary: 'λ ~ Beta(a, a), the share of a crop that stays its own', min: 0, max: 100, openMin: true }),
  prob: decimal({ flag: '--mix-prob', value: '<p>', summary: 'probability that a crop is mixed', min: 0, max: 1 }),
  seed: integer({ flag: '--mix-seed', summary: 'seed of the mix draws (default: the shuffle seed)', min: 0, max: Number.MAX_SAFE_INTEGER }),
};

/** The loader's defaults, read by `createLoader`, its memory check, `distill` and the CLI alike. */
export const LOADER_DEFAULTS = { prefetch: 2 };

/**
 * Batches the loader's ring holds, computed here only, for the ring and for the memory check.
 * Batch b stays valid until the consumer asks for batch b + 2, so the slots in use are b (held),
 * b + 1 (being read or filled) and up to `prefetch` more being filled: prefetch + 2, and a few
 * more only when one image's crops span more than a batch. Before the store is open its crops
 * per image are unknown; 1 gives the least the ring can be.
 *
 * @example
 * ringBatches(2, 128, 4); // 4
 */
export function ringBatches(prefetch: number, batchSize: number, cropsPerImage = 1): number {
  return Math.max(prefetch + 2, 2 + Math.ceil((2 * cropsPerImage - 1) / batchSize));
}

export const MIX_DEFAULTS = { alpha: 1, prob: 1 };

/** The loader's `target` option: a target mode applied on top of the stored labels. */
export const TARGET_SCHEMA = {
  mode: choice({ flag: '--target', value: '<mode>', summary: "calibrated: a smoothed one-hot of the folder class where the teacher's probability of it is below the threshold", choices: ['calibrated'] as const }),
  threshold: decimal({ flag: '--calibrate-threshold', value: '<p>', summary: 'teacher probability of the folder class below which the one-hot is used', min: 0, max: 1 }),
  smoothing: decimal({ flag: '--smoothing', value: '<e>', summary: 'label smoothing of that one-hot', min: 0, max: 1 }),
};

export const TARGET_DEFAULTS = { smoothing: 0.1 };

/** What `validateLoaderOptions` reads; a structural subset of `LoaderOptions`. */
export type LoaderOptionValues = { [K in keyof typeof LOADER_SCHEMA]?: unknown } & { shuffle?: unknown; data?: unknown; labels?: unknown; mix?: unknown; target?: unknown };

/**
 * Checks an object option against its schema: it must be a plain object, its mode is
 * required, and the fields named in `required` too.
 */
function checkGroup<S extends Record<string, { check(value: unknown, name: string): unknown; flag: string }>>(schema: S, value: unknown, name: string, required: ReadonlyArray<keyof S & string>, naming: Naming): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FkdError('E_USAGE', `Expected an object for ${name} but received ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}.`);
  const record = value as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !Object.hasOwn(schema, key));
  if (unknown.length > 0) throw new FkdError('E_USAGE', `Unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => JSON.stringify(key)).join(', ')} in ${name}; expected ${Object.keys(schema).join(', ')}.`);
  const fieldName = (key: string) => (naming === 'cli' ? schema[key]!.flag : `${name}.${key}`);
  for (const key of required) if (record[key] === undefined) throw new FkdError('E_USAGE', `${fieldName(key)} is required with ${name}.`);
  for (const key of Object.keys(record)) if (record[key] !== undefined) schema[key]!.check(record[key], fieldName(key));
}

/**
 * Checks a loader's options before the first batch: types, ranges, enums (a `dtype` of
 * `'float16'` or a `layout` of `'xyz'` is refused, not passed through), rank against
 * worldSize, and the batch buffers against the memory budget.
 *
 * @example
 * validateLoaderOptions({ batchSize: 256, size: 224, temperature: -1 }); // throws E_USAGE
 */
export function validateLoaderOptions(options: LoaderOptionValues, naming: Naming = 'api'): void {
  if (typeof options.data !== 'string' && (typeof options.data !== 'object' || options.data === null)) {
    throw new FkdError('E_USAGE', `Expected a dataset folder or a scanned Dataset for data but received ${typeof options.data}.`);
  }
  if (typeof options.labels !== 'object' || options.labels === null) {
    throw new FkdError('E_USAGE', `Expected an opened label set (openLabels) for labels but received ${typeof options.labels}.`);
  }
  if (options.epoch === undefined) throw new FkdError('E_USAGE', 'epoch is required: the student epoch to stream.');
  if (options.batchSize === undefined) throw new FkdError('E_USAGE', 'batchSize is required: crops per batch.');
  const values = checkOptions(LOADER_SCHEMA, options, naming);
  if (options.mix !== undefined) checkGroup(MIX_SCHEMA, options.mix, 'mix', ['mode'], naming);
  if (options.target !== undefined) checkGroup(TARGET_SCHEMA, options.target, 'target', ['mode', 'threshold'], naming);
  const shuffle = options.shuffle;
  if (shuffle !== undefined && shuffle !== false && !(typeof shuffle === 'number' && Number.isSafeInteger(shuffle) && shuffle >= 0)) {
    throw new FkdError('E_USAGE', `Expected false or an integer in 0..${Number.MAX_SAFE_INTEGER} for shuffle but received ${typeof shuffle === 'number' ? shuffle : typeof shuffle}.`);
  }
  const worldSize = values.worldSize ?? 1;
  const rank = values.rank ?? 0;
  if (rank >= worldSize) throw new FkdError('E_USAGE', `Expected rank in 0..${worldSize - 1} but received ${rank}.`);
  if (values.size !== undefined) {
    const perValue = values.dtype === 'uint8' ? 1 : 4;
    // Mixing keeps one more batch of pixels: the unmixed copy partners are read from.
    const ring = ringBatches(values.prefetch ?? LOADER_DEFAULTS.prefetch, values.batchSize!);
    const buffers = ring + (options.mix === undefined ? 0 : 1);
    checkAllocation(
      'The loader batches',
      values.batchSize! * values.size * values.size * 3 * perValue * buffers,
      `batchSize ${values.batchSize} × ${values.size}² px × 3 × ${perValue} B × ${buffers} batches (the ring's ${ring}${options.mix === undefined ? '' : ' + the mix copy'})`,
      memoryBudget(values.memory),
      'Lower batchSize, size or prefetch.',
    );
  }
}
