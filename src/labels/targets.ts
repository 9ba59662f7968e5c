import { FkdError } from '../errors.js';

/**
 * How the k stored probabilities of a record become a full C-way training target: one codec
 * per mode, in one table. Everything that names a mode (the manifest checker, the label CLI's
 * choices, `denseTarget`, the loader) reads this table, so a new mode is one new entry here.
 *
 * A codec is row-local and pure: given a row's top-k probabilities and their sum it says what
 * each top-k class gets and what every other class gets.
 */
export interface TargetCodec {
  /** One line for `--help` and the docs. */
  readonly summary: string;
  /** The target of a top-k class whose stored probability is `p`; `sum` is the row's top-k sum. */
  top(p: number, sum: number, k: number): number;
  /** The target of each of the `numClasses − k` classes outside the row's top-k. */
  rest(sum: number, k: number, numClasses: number): number;
}

const codecs = {
  marginal: {
    summary: "FKD's marginal smoothing: top-k as stored, the leftover 1 − Σ top-k spread evenly over the other classes",
    top: (p: number) => p,
    rest: (sum: number, k: number, numClasses: number) => (numClasses - k > 0 ? Math.max(0, 1 - sum) / (numClasses - k) : 0),
  },
  renorm: {
    summary: 'top-k rescaled to sum to 1, the other classes 0 (an all-zero row becomes uniform over its k classes)',
    top: (p: number, sum: number, k: number) => (sum > 0 ? p / sum : 1 / k),
    rest: () => 0,
  },
} satisfies Record<string, TargetCodec>;

/** A dense-target rebuild mode, as recorded in the manifest's `codec.target`. */
export type TargetMode = keyof typeof codecs;

/** Every mode, keyed to its codec. */
export const TARGET_CODECS: Readonly<Record<TargetMode, TargetCodec>> = codecs;

/** Every mode name, in table order (the first is the default). */
export const TARGET_MODES = Object.keys(codecs) as readonly TargetMode[];

/** True when `mode` names a codec in the table. */
export function isTargetMode(mode: unknown): mode is TargetMode {
  return typeof mode === 'string' && Object.hasOwn(codecs, mode);
}

/**
 * The codec of `mode`, or a usage error that lists the modes there are.
 *
 * @example
 * targetCodec('renorm').top(0.3, 0.6, 2); // 0.5
 */
export function targetCodec(mode: TargetMode): TargetCodec {
  if (!isTargetMode(mode)) {
    throw new FkdError('E_USAGE', `Expected target ${TARGET_MODES.map((m) => JSON.stringify(m)).join(' or ')} but received ${JSON.stringify(mode)}.`);
  }
  return TARGET_CODECS[mode];
}
