import { calibrateRow, folderProbability, type Calibration } from '../labels/calibrate.js';
import { denseTarget } from '../labels/codec.js';
import { EXPLICIT_MODE, toExplicit } from '../labels/explicit.js';
import type { TargetMode } from '../labels/targets.js';
import type { BatchTargets } from './batch.js';

export interface TargetOptions {
  numClasses: number;
  topK: number;
  /** The store's codec mode. */
  mode: TargetMode;
  /** Sharpening (< 1) or softening (> 1) applied to the stored probabilities: p^(1/T), renormalised over the top-k mass. */
  temperature?: number;
  /** FerKD-style: a smoothed one-hot of the folder class where the teacher doubts it. */
  calibration?: Calibration;
  /**
   * Rewrite rows into the explicit form (labels/explicit.ts), which mixing and calibration
   * need: then `probs` are the target values themselves and `dense()` uses `marginal`.
   */
  explicit: boolean;
}

/** A slot's own labels, which the targets stage rewrites in place. */
export interface TargetRows {
  classes: Uint32Array;
  probs: Float32Array;
  classIndex: Uint32Array;
  /** Filled with each sample's teacher confidence when calibrating. */
  confidence: Float32Array | null;
}

/**
 * The targets stage, on the first `rows` samples of a slot, in place: each sample's teacher
 * confidence (the stored probability of its folder class, before temperature), the
 * temperature, the explicit form and the calibration, in that order.
 */
export function prepareTargets(slot: TargetRows, rows: number, options: TargetOptions): void {
  const { classes, probs, classIndex, confidence } = slot;
  const k = options.topK;
  if (confidence) for (let row = 0; row < rows; row++) confidence[row] = folderProbability(classes, probs, k, row, classIndex[row]!);
  if (options.temperature !== undefined && options.temperature !== 1) sharpen(probs, k, rows, options.temperature);
  if (options.explicit) toExplicit(probs, k, rows, options.mode);
  const calibration = options.calibration;
  if (calibration && confidence) {
    for (let row = 0; row < rows; row++) calibrateRow(classes, probs, k, options.numClasses, row, classIndex[row]!, calibration, confidence[row]!);
  }
}

/**
 * Wraps a batch's top-k rows (`topK` per row). `dense()` rebuilds the full target through the
 * codec the first time it is asked for, into `denseBuffer` when given (the loader passes its
 * ring slot's buffer, so no memory is allocated per batch).
 */
export function wrapTargets(classes: Uint32Array, probs: Float32Array, topK: number, options: TargetOptions, denseBuffer?: () => Float32Array): BatchTargets {
  const mode = options.explicit ? EXPLICIT_MODE : options.mode;
  let dense: Float32Array | undefined;
  return {
    numClasses: options.numClasses,
    topK,
    classes,
    probs,
    dense() {
      const rows = classes.length / topK;
      dense ??= denseTarget(classes, probs, options.numClasses, mode, denseBuffer ? denseBuffer().subarray(0, rows * options.numClasses) : new Float32Array(rows * options.numClasses));
      return dense;
    },
  };
}

/** Raises each row's probabilities to 1/T while keeping the row's top-k mass unchanged. */
function sharpen(probs: Float32Array, k: number, rows: number, temperature: number): void {
  for (let row = 0; row < rows; row++) {
    let mass = 0;
    let powered = 0;
    for (let j = 0; j < k; j++) mass += probs[row * k + j]!;
    for (let j = 0; j < k; j++) powered += probs[row * k + j]! ** (1 / temperature);
    if (powered === 0) continue;
    for (let j = 0; j < k; j++) probs[row * k + j] = (probs[row * k + j]! ** (1 / temperature) / powered) * mass;
  }
}
