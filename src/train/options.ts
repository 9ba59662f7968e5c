import { FkdError } from '../errors.js';
import { LOADER_DEFAULTS, LOADER_SCHEMA, MIX_DEFAULTS, MIX_SCHEMA, TARGET_DEFAULTS, TARGET_SCHEMA } from '../loader/options.js';
import { checkOptions, choice, decimal, flag, integer, text, type Naming } from '../options/schema.js';

/** `fkd train` and `distill()`: one schema for flags, help, defaults and library checks. */
export const TRAIN_SCHEMA = {
  data: text({ flag: '--data', value: '<dir>', summary: 'the ImageFolder tree the labels were made from, or its shard set from fkd pack (folder, pattern, list file or s3://)' }),
  labels: text({ flag: '--labels', value: '<store>', summary: 'label store: a directory or s3://bucket/prefix' }),
  epochs: integer({ flag: '--epochs', summary: 'student epochs', min: 1, max: 100_000 }),
  student: choice({ flag: '--student', value: '<name>', summary: 'built-in student', choices: ['tiny', 'resnet18'] as const }),
  batchSize: LOADER_SCHEMA.batchSize,
  size: integer({ flag: '--size', value: '<px>', summary: 'student input side', min: 8, max: 4096 }),
  optimizer: choice({ flag: '--optimizer', value: '<name>', summary: 'optimizer', choices: ['sgd', 'adamw'] as const }),
  learningRate: decimal({ flag: '--lr', value: '<rate>', summary: 'learning rate', min: 0, max: Infinity, openMin: true }),
  weightDecay: decimal({ flag: '--weight-decay', value: '<wd>', summary: 'decoupled weight decay on kernels', min: 0, max: 10 }),
  seed: integer({ flag: '--seed', summary: 'student initialisation and shuffle seed', min: 0, max: Number.MAX_SAFE_INTEGER }),
  checkpointDir: text({ flag: '--checkpoint', value: '<dir>', summary: 'save a checkpoint here after every epoch' }),
  resume: flag({ flag: '--resume', summary: 'continue from the checkpoint in --checkpoint' }),
  workers: LOADER_SCHEMA.workers,
  prefetch: LOADER_SCHEMA.prefetch,
  temperature: LOADER_SCHEMA.temperature,
  onError: LOADER_SCHEMA.onError,
  // The loader's `mix` and `target` objects, one flag per field.
  mixMode: MIX_SCHEMA.mode,
  mixAlpha: MIX_SCHEMA.alpha,
  mixProb: MIX_SCHEMA.prob,
  targetMode: TARGET_SCHEMA.mode,
  calibrateThreshold: TARGET_SCHEMA.threshold,
  smoothing: TARGET_SCHEMA.smoothing,
  cacheDir: text({ flag: '--cache-dir', value: '<dir>', summary: 'keep label blocks fetched from object storage here' }),
};

export const TRAIN_DEFAULTS = {
  epochs: 1,
  student: 'tiny' as const,
  batchSize: 64,
  size: 224,
  optimizer: 'adamw' as const,
  learningRate: 1e-3,
  weightDecay: 0,
  seed: 0,
  prefetch: LOADER_DEFAULTS.prefetch,
  onError: 'throw' as const,
  mixAlpha: MIX_DEFAULTS.alpha,
  mixProb: MIX_DEFAULTS.prob,
  smoothing: TARGET_DEFAULTS.smoothing,
};

/**
 * Checks `distill()`'s own options (the loader checks its pass-through options itself).
 *
 * @example
 * validateTrainOptions({ data: 'train', labels: 'labels', epochs: 0 }); // throws E_USAGE
 */
export function validateTrainOptions(options: Partial<Record<keyof typeof TRAIN_SCHEMA, unknown>>, naming: Naming = 'api'): void {
  const name = (key: keyof typeof TRAIN_SCHEMA): string => (naming === 'cli' ? TRAIN_SCHEMA[key].flag : key);
  if (typeof options.data !== 'string' || options.data === '') throw new FkdError('E_USAGE', `${name('data')} is required: ${TRAIN_SCHEMA.data.summary}.`);
  const { labels, ...rest } = options;
  if (labels === undefined || labels === '') throw new FkdError('E_USAGE', `${name('labels')} is required: ${TRAIN_SCHEMA.labels.summary}.`);
  checkOptions(TRAIN_SCHEMA, typeof labels === 'string' ? options : rest, naming);
  if (options.resume === true && options.checkpointDir === undefined) throw new FkdError('E_USAGE', `${name('resume')} needs ${name('checkpointDir')}: the folder to resume from.`);
  if (options.targetMode !== undefined && options.calibrateThreshold === undefined) throw new FkdError('E_USAGE', `${name('targetMode')} ${typeof options.targetMode === 'string' ? options.targetMode : ''} needs ${name('calibrateThreshold')}: ${TRAIN_SCHEMA.calibrateThreshold.summary}.`);
}

/** Settings that mean nothing without another: each refused alone rather than ignored. */
const NEEDS: ReadonlyArray<readonly [keyof typeof TRAIN_SCHEMA, keyof typeof TRAIN_SCHEMA, string]> = [
  ['mixAlpha', 'mixMode', 'mixup, cutmix or both'],
  ['mixProb', 'mixMode', 'mixup, cutmix or both'],
  ['calibrateThreshold', 'targetMode', 'calibrated'],
  ['smoothing', 'targetMode', 'calibrated'],
];

/**
 * Refuses a recipe setting given without the mode it tunes (`--mix-alpha 1` without `--mix`),
 * which would otherwise be dropped in silence. `given` holds the fields set explicitly, not by
 * default.
 *
 * @example
 * checkRecipeDependencies(new Set(['mixAlpha']), {}, 'cli'); // throws E_USAGE: --mix-alpha needs --mix (mixup, cutmix or both)
 */
export function checkRecipeDependencies(given: ReadonlySet<string>, options: Partial<Record<keyof typeof TRAIN_SCHEMA, unknown>>, naming: Naming = 'api'): void {
  const name = (key: keyof typeof TRAIN_SCHEMA): string => (naming === 'cli' ? TRAIN_SCHEMA[key].flag : key);
  for (const [setting, mode, modes] of NEEDS) {
    if (given.has(setting) && options[mode] === undefined) {
      throw new FkdError('E_USAGE', `${name(setting)} needs ${name(mode)} (${modes}); without it the setting would be ignored.`);
    }
  }
}

/**
 * The loader's `mix` and `target` options from the flat train fields (`--mix cutmix
 * --mix-alpha 1`...); absent when their mode is not set. The mix seed is the train seed.
 *
 * @example
 * recipeOptions({ mixMode: 'cutmix', mixAlpha: 1, mixProb: 1, seed: 0 }); // { mix: { mode: 'cutmix', alpha: 1, prob: 1, seed: 0 } }
 */
export function recipeOptions(values: { mixMode?: 'mixup' | 'cutmix' | 'both'; mixAlpha: number; mixProb: number; targetMode?: 'calibrated'; calibrateThreshold?: number; smoothing: number; seed: number }) {
  return {
    ...(values.mixMode ? { mix: { mode: values.mixMode, alpha: values.mixAlpha, prob: values.mixProb, seed: values.seed } } : {}),
    ...(values.targetMode && values.calibrateThreshold !== undefined ? { target: { mode: values.targetMode, threshold: values.calibrateThreshold, smoothing: values.smoothing } } : {}),
  };
}
