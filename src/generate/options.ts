import type { Interpolation } from '../crop/render.js';
import { imagenetNormalization } from '../crop/tensor.js';
import { DEFAULT_MAX_PIXELS, MAX_SIDE } from '../dataset/decode.js';
import type { BadEntryPolicy } from '../dataset/scan.js';
import { FkdError } from '../errors.js';
import { TARGET_MODES, type TargetMode } from '../labels/codec.js';
import type { OutputKind } from '../labels/probabilities.js';
import { warnDeprecated } from '../options/deprecated.js';
import { checkAllocation, formatBytes, memoryBudget, threadCap } from '../options/memory.js';
import { checkOptions, choice, decimal, flag, integer, nameOf, numbers, text, type Naming, type SchemaValues } from '../options/schema.js';
import { classBytesFor, columnBytes, MAX_EPOCH_RAW_BYTES } from '../store/format/columns.js';
import type { Device } from '../teacher/engine.js';

/**
 * The options of `fkd label` and `label()`, in one place: the CLI builds its flags, help
 * and defaults from this schema and the library validates with it, so both refuse the same
 * values with the same words. A new option is one field here and one default below.
 */
export const LABEL_SCHEMA = {
  data: text({ flag: '--data', value: '<dir>', summary: 'ImageFolder root <dir>/<class>/<image>, or a shard set from fkd pack: its folder, a pattern (dir/shard-{000000..000099}.tar), a list file, or s3://bucket/prefix' }),
  teacher: text({ flag: '--teacher', value: '<model>', summary: 'teacher model: a .onnx file or a TF.js model.json' }),
  out: text({ flag: '--out', value: '<store>', summary: 'output: a directory or s3://bucket/prefix' }),
  epochs: integer({ flag: '--epochs', summary: 'label epochs (the student cycles through them)', min: 1, max: 100_000 }),
  crops: integer({ flag: '--crops', summary: 'crops per image per epoch', min: 1, max: 10_000 }),
  topK: integer({ flag: '--top-k', value: '<k>', summary: 'probabilities kept per crop (default: 5, or the class count if smaller)', min: 1, max: 65_536 }),
  seed: integer({ flag: '--seed', summary: 'sampler seed', min: 0, max: Number.MAX_SAFE_INTEGER }),
  scale: numbers({ flag: '--scale', value: '<min,max>', summary: 'RandomResizedCrop area range', count: 2, min: 0, max: 1, openMin: true, ascending: true }),
  ratio: numbers({ flag: '--ratio', value: '<min,max>', summary: 'RandomResizedCrop aspect-ratio range', count: 2, min: 0, max: 1000, openMin: true, ascending: true }),
  flip: decimal({ flag: '--flip', value: '<p>', summary: 'horizontal flip probability', min: 0, max: 1 }),
  size: integer({ flag: '--size', value: '<px>', summary: 'teacher input side when the model does not fix it', min: 1, max: 16_384 }),
  mean: numbers({ flag: '--mean', value: '<r,g,b>', summary: 'normalisation mean', count: 3, min: -1000, max: 1000 }),
  std: numbers({ flag: '--std', value: '<r,g,b>', summary: 'normalisation std', count: 3, min: 0, max: 1000, openMin: true }),
  temperature: decimal({ flag: '--temperature', value: '<t>', summary: 'softmax temperature applied to the teacher', min: 0.001, max: 1000 }),
  outputs: choice<OutputKind>({ flag: '--outputs', value: '<kind>', summary: 'what the teacher emits', choices: ['logits', 'probs'] }),
  rebuild: choice<TargetMode>({ flag: '--rebuild', value: '<mode>', summary: 'how the dense target is rebuilt from the top-k, recorded in the store (was --target, which fkd train uses for calibrated targets)', choices: TARGET_MODES }),
  interpolation: choice<Interpolation>({ flag: '--interpolation', value: '<kind>', summary: 'resampling filter for teacher crops', choices: ['bicubic', 'bilinear'] }),
  batch: integer({ flag: '--batch', summary: 'crops per teacher call', min: 1, max: 65_536 }),
  concurrency: integer({ flag: '--concurrency', summary: 'images decoded ahead of the teacher', min: 1, max: 1024 }),
  shardImages: integer({ flag: '--shard-images', summary: 'images per shard object', min: 1, max: 1_000_000 }),
  maxPixels: integer({ flag: '--max-pixels', summary: 'refuse larger images as decompression bombs', min: 1, max: MAX_SIDE * MAX_SIDE }),
  device: choice<Device>({ flag: '--device', value: '<device>', summary: 'execution device for the teacher', choices: ['cpu', 'cuda'] }),
  threads: integer({ flag: '--threads', summary: 'teacher intra-op threads (default: all cores)', min: 1, max: 4096, cap: () => threadCap() }),
  renderThreads: integer({ flag: '--render-threads', summary: 'threads that decode images and render crops into the teacher batches (default: all cores; 0: on the main thread)', min: 0, max: 4096, cap: () => threadCap() }),
  classMap: text({ flag: '--class-map', value: '<file>', summary: 'for a teacher over other classes: each class folder\'s teacher output, as a JSON object or "folder index" lines' }),
  memory: integer({ flag: '--memory', value: '<MiB>', summary: "memory the run may plan for (default: half of the machine's or container's); a quarter of it bounds the pixels being decoded at once", min: 64, max: 2 ** 30 }),
  onBadEntry: choice<BadEntryPolicy>({ flag: '--on-bad-entry', value: '<policy>', summary: 'dangling or looping links, FIFOs, devices, names that are not UTF-8, .bmp/.ppm files and undecodable images: skip them with a report, or throw at the first (as the loader\'s --on-error throw; "fail" is the deprecated spelling)', choices: ['skip', 'throw'], deprecated: { fail: 'throw' } }),
  minImages: integer({ flag: '--min-images', summary: 'fail (without finalizing) when fewer images than this get labels', min: 0, max: Number.MAX_SAFE_INTEGER }),
  allowSvg: flag({ flag: '--allow-svg', summary: 'render SVG images (refused by default: librsvg can read files they reference)' }),
  like: text({ flag: '--like', value: '<store>', summary: "label exactly this finished store's crops (boxes, flips, label epochs, shard size) with another teacher" }),
};

export type LabelSchemaValues = SchemaValues<typeof LABEL_SCHEMA>;

/** Every label default, written once: the CLI shows and uses these, `label()` falls back to them. */
export const LABEL_DEFAULTS = {
  epochs: 1,
  crops: 4,
  seed: 0,
  scale: [0.08, 1] as [number, number],
  ratio: [3 / 4, 4 / 3] as [number, number],
  flip: 0.5,
  mean: [...imagenetNormalization.mean] as [number, number, number],
  std: [...imagenetNormalization.std] as [number, number, number],
  temperature: 1,
  outputs: 'logits' as OutputKind,
  rebuild: 'marginal' as TargetMode,
  interpolation: 'bicubic' as Interpolation,
  batch: 32,
  concurrency: 4,
  shardImages: 1000,
  maxPixels: DEFAULT_MAX_PIXELS,
  device: 'cpu' as Device,
  onBadEntry: 'skip' as BadEntryPolicy,
  minImages: 1,
  allowSvg: false,
} satisfies Partial<LabelSchemaValues>;

/** Options with every default applied; `topK`, `size`, `threads`, `renderThreads` and `memory` stay optional because their defaults depend on the dataset, the model or the machine. */
export type ResolvedLabelOptions = Pick<LabelSchemaValues, 'data' | 'teacher' | 'out'> &
  typeof LABEL_DEFAULTS &
  Partial<Pick<LabelSchemaValues, 'topK' | 'size' | 'threads' | 'renderThreads' | 'memory' | 'classMap' | 'like'>>;

/** Teacher batches in the label pass's input ring: one with the teacher while the next two are rendered. */
export const TEACHER_RING_BATCHES = 3;

/** Default top-k: 5, the FKD paper's "marginal smoothing", or every class when there are fewer. */
export function defaultTopK(numClasses: number): number {
  return Math.min(5, numClasses);
}

/** Bytes a shard's records take while the label pass fills them: 4 × uint16 box + flip + k × (uint32 class + uint16 code). */
const RECORD_BYTES_IN_MEMORY = (topK: number): number => 9 + 6 * topK;

/**
 * Checks every label option and applies the defaults, before anything is loaded or
 * written: ranges, types, cross-field rules and the allocations the options size
 * (checked against the memory budget with the figure in the message). `naming` decides
 * whether messages say `--shard-images` or `shardImages`.
 *
 * @example
 * const options = resolveLabelOptions({ data: 'train', teacher: 't.onnx', out: 'labels', crops: 8 });
 * options.batch; // 32
 */
export function resolveLabelOptions(input: Partial<Record<keyof typeof LABEL_SCHEMA | 'target', unknown>>, naming: Naming = 'api'): ResolvedLabelOptions {
  const given = checkOptions(LABEL_SCHEMA, renamedOptions(input), naming);
  for (const key of ['data', 'teacher', 'out'] as const) {
    if (given[key] === undefined) throw new FkdError('E_USAGE', `${nameOf(LABEL_SCHEMA, key, naming)} is required: ${LABEL_SCHEMA[key].summary}.`);
  }
  const resolved = { ...LABEL_DEFAULTS, ...given } as ResolvedLabelOptions;
  checkLabelPlan(resolved, { numClasses: undefined, inputSize: undefined }, naming);
  return resolved;
}

/**
 * The label options' old names, accepted for one release with a warning: `target` became
 * `rebuild`, since the loader's (and `fkd train`'s) `target` means calibrated targets.
 */
function renamedOptions<T extends { target?: unknown; rebuild?: unknown }>(input: T): Omit<T, 'target'> {
  const { target, ...rest } = input;
  if (target === undefined) return rest;
  if (rest.rebuild !== undefined) throw new FkdError('E_USAGE', 'Pass rebuild only: target is its deprecated name.', { option: 'rebuild' });
  warnDeprecated('The label option target', 'rebuild');
  return { ...rest, rebuild: target };
}

/** What is known only once the teacher and the dataset are open. */
export interface LabelFacts {
  numClasses: number | undefined;
  inputSize: number | undefined;
}

/**
 * The rules between options, the dataset and the teacher. It runs twice: with what the
 * options alone say (an upper bound: top-k 5 when unset), then with the loaded teacher's
 * input size and the dataset's class count, still before any byte is written.
 */
export function checkLabelPlan(options: ResolvedLabelOptions, facts: LabelFacts, naming: Naming = 'api'): void {
  const name = (key: keyof typeof LABEL_SCHEMA): string => nameOf(LABEL_SCHEMA, key, naming);
  const topK = options.topK ?? (facts.numClasses === undefined ? 5 : defaultTopK(facts.numClasses));
  if (facts.numClasses !== undefined && topK > facts.numClasses) {
    throw new FkdError('E_USAGE', `Expected ${name('topK')} between 1 and ${facts.numClasses} (the class count) but received ${topK}.`);
  }
  const budget = memoryBudget(options.memory, nameOf(LABEL_SCHEMA, 'memory', naming));
  const perShardCrops = options.shardImages * options.crops;
  // One epoch block of a shard must stay readable: readers refuse blocks above this cap.
  const classBytes = classBytesFor(facts.numClasses ?? 2);
  const blockBytes = columnBytes(perShardCrops, topK, classBytes);
  if (blockBytes > MAX_EPOCH_RAW_BYTES) {
    const most = Math.max(1, Math.floor(options.shardImages * (MAX_EPOCH_RAW_BYTES / blockBytes)));
    throw new FkdError(
      'E_USAGE',
      `${name('shardImages')} ${options.shardImages} × ${name('crops')} ${options.crops} at top-${topK} makes epoch blocks of ${formatBytes(blockBytes)}, above the format's ${formatBytes(MAX_EPOCH_RAW_BYTES)} limit per block. Use ${name('shardImages')} ${most} or fewer.`,
    );
  }
  const recordBytes = options.epochs * perShardCrops * RECORD_BYTES_IN_MEMORY(topK);
  checkAllocation(
    "One shard's records",
    recordBytes,
    `${name('epochs')} ${options.epochs} × ${name('shardImages')} ${options.shardImages} × ${name('crops')} ${options.crops} × ${RECORD_BYTES_IN_MEMORY(topK)} B at top-${topK}`,
    budget,
    `Lower ${name('shardImages')} (a shard is held in memory until it is written) or ${name('epochs')}.`,
  );
  const size = facts.inputSize ?? options.size;
  if (size !== undefined) {
    // The teacher's input batches, float32 × 3 channels: the ring's TEACHER_RING_BATCHES, and one
    // more for the engine (its copy of a batch from shared memory, or its own input).
    const perCrop = size * size * 12 * (TEACHER_RING_BATCHES + 1);
    const batchBytes = options.batch * perCrop;
    checkAllocation(
      'The teacher batches',
      batchBytes,
      `${name('batch')} ${options.batch} × ${size}² px × 12 B × ${TEACHER_RING_BATCHES + 1} batches`,
      budget,
      Math.floor(budget.bytes / perCrop) >= 1
        ? `Lower ${name('batch')} to ${Math.floor(budget.bytes / perCrop)} or less${facts.inputSize === undefined ? `, or ${name('size')}` : ''}.`
        : `Even one ${size}² crop is too large: ${facts.inputSize === undefined ? `lower ${name('size')}` : 'use a teacher with a smaller input'} or raise ${name('memory')}.`,
    );
  }
}
