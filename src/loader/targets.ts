import { denseTarget } from '../labels/codec.js';
import type { TargetMode } from '../labels/targets.js';
import type { BatchTargets } from './batch.js';

export interface TargetOptions {
  numClasses: number;
  topK: number;
  mode: TargetMode;
  /** Sharpening (< 1) or softening (> 1) applied to the stored probabilities: p^(1/T), renormalised over the top-k mass. */
  temperature?: number;
}

/**
 * The targets stage: wraps a batch's top-k labels. Probabilities are used as stored (after
 * the optional temperature); `dense()` rebuilds the full target through the store's codec
 * the first time it is asked for, into `denseBuffer` when given (the loader passes its
 * ring slot's buffer, so no memory is allocated per batch).
 */
export function makeTargets(classes: Uint32Array, probs: Float32Array, options: TargetOptions, denseBuffer?: () => Float32Array): BatchTargets {
  if (options.temperature !== undefined && options.temperature !== 1) sharpen(probs, options.topK, options.temperature);
  let dense: Float32Array | undefined;
  return {
    numClasses: options.numClasses,
    topK: options.topK,
    classes,
    probs,
    dense() {
      const rows = classes.length / options.topK;
      dense ??= denseTarget(classes, probs, options.numClasses, options.mode, denseBuffer ? denseBuffer().subarray(0, rows * options.numClasses) : new Float32Array(rows * options.numClasses));
      return dense;
    },
  };
}

/** Raises each row's probabilities to 1/T while keeping the row's top-k mass unchanged. */
function sharpen(probs: Float32Array, k: number, temperature: number): void {
  for (let row = 0; row < probs.length / k; row++) {
    let mass = 0;
    let powered = 0;
    for (let j = 0; j < k; j++) mass += probs[row * k + j]!;
    for (let j = 0; j < k; j++) powered += probs[row * k + j]! ** (1 / temperature);
    if (powered === 0) continue;
    for (let j = 0; j < k; j++) probs[row * k + j] = (probs[row * k + j]! ** (1 / temperature) / powered) * mass;
  }
}
