import { targetCodec, type TargetMode } from './targets.js';

/**
 * The explicit top-k form: each row's values *are* the dense target at its classes, and
 * whatever mass is left, 1 − Σ row, is spread evenly over the classes the row does not name
 * (none when the row names every class). That is how `marginal` reads a row, so an explicit
 * row rebuilds with the `marginal` codec; mixing and calibration both work in this form,
 * because a mix of two rows, or a smoothed one-hot, is again a row of it.
 */
export const EXPLICIT_MODE: TargetMode = 'marginal';

/**
 * Rewrites `rows` rows of `k` stored probabilities in place into the explicit form of the
 * store's `mode`, so that `denseTarget(classes, probs, C, EXPLICIT_MODE)` gives what
 * `denseTarget(classes, stored, C, mode)` gave. A no-op for `marginal`.
 *
 * @example
 * const probs = new Float32Array([0.6, 0.2]);
 * toExplicit(probs, 2, 1, 'renorm'); // probs is now [0.75, 0.25]
 */
export function toExplicit(probs: Float32Array, k: number, rows: number, mode: TargetMode): void {
  if (mode === EXPLICIT_MODE) return;
  const codec = targetCodec(mode);
  for (let row = 0; row < rows; row++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += probs[row * k + j]!;
    for (let j = 0; j < k; j++) probs[row * k + j] = codec.top(probs[row * k + j]!, sum, k);
  }
}

/** The value an explicit row gives each class it does not name. */
export function leftoverShare(probs: Float32Array, first: number, k: number, numClasses: number): number {
  if (numClasses <= k) return 0;
  let sum = 0;
  for (let j = 0; j < k; j++) sum += probs[first + j]!;
  return Math.max(0, 1 - sum) / (numClasses - k);
}
