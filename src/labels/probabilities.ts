import { FkdError } from '../errors.js';

/** What a teacher's output rows are: raw scores, or an already normalised distribution. */
export type OutputKind = 'logits' | 'probs';

export interface ProbabilityOptions {
  outputs: OutputKind;
  /** Softening temperature T > 0; 1 keeps the teacher's distribution. */
  temperature: number;
}

/**
 * A `probs` row may hold values this far below 0 (float noise from a softmax exported in
 * reduced precision) before we call it logits rather than probabilities.
 */
const NEGATIVE_TOLERANCE = 1e-4;

/**
 * How far a `probs` row may sum from 1. fp16 softmax outputs over 1000 classes stay well
 * inside it; sigmoid heads or logits mislabelled as probabilities land far outside.
 */
const SUM_TOLERANCE = 0.02;

// One row in float64, reused across calls (a module has one thread).
let rowScratch = new Float64Array(0);

/**
 * Turn one batch of teacher outputs (rows × numClasses, row-major) into probability rows.
 * Pass `out` (exactly rows × numClasses) to reuse a buffer.
 *
 * - `logits`: softmax(z / T), computed in float64 after subtracting the row maximum, so
 *   large logits cannot overflow.
 * - `probs`: p^(1/T), renormalised. Tiny negatives (float noise) are clamped to 0 first,
 *   and rows are renormalised even at T = 1 so every row sums to 1.
 *
 * Throws `E_MODEL_SHAPE` when the output size does not match, when a row holds NaN or
 * ±Infinity, and when `probs` rows clearly are not probabilities.
 *
 * @example
 * toProbabilities(new Float32Array([0, Math.log(3)]), 1, 2, { outputs: 'logits', temperature: 1 });
 * // Float32Array [0.25, 0.75]
 */
export function toProbabilities(
  outputs: Float32Array,
  rows: number,
  numClasses: number,
  options: ProbabilityOptions,
  out?: Float32Array,
): Float32Array {
  if (!Number.isInteger(rows) || rows < 0) {
    throw new FkdError('E_USAGE', `Expected a non-negative integer for rows but received ${String(rows)}.`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new FkdError('E_USAGE', `Expected a positive integer for numClasses but received ${String(numClasses)}.`);
  }
  const { outputs: kind, temperature } = options;
  if (kind !== 'logits' && kind !== 'probs') {
    throw new FkdError('E_USAGE', `Expected outputs "logits" or "probs" but received ${JSON.stringify(kind)}.`);
  }
  if (!Number.isFinite(temperature) || temperature <= 0) {
    throw new FkdError('E_USAGE', `Expected a positive finite temperature but received ${String(temperature)}.`);
  }
  if (outputs.length !== rows * numClasses) {
    throw new FkdError(
      'E_MODEL_SHAPE',
      `The teacher returned ${outputs.length} values for ${rows} crops × ${numClasses} classes; expected ${rows * numClasses}. Check that the model's output width equals the dataset's class count.`,
    );
  }
  if (out && out.length !== outputs.length) throw new RangeError(`toProbabilities: out holds ${out.length} values; ${rows} × ${numClasses} need ${outputs.length}.`);
  const result = out ?? new Float32Array(outputs.length);
  if (rowScratch.length < numClasses) rowScratch = new Float64Array(numClasses);
  const scratch = rowScratch;
  for (let row = 0; row < rows; row++) {
    const base = row * numClasses;
    checkFinite(outputs, base, numClasses, row);
    if (kind === 'logits') {
      softmaxRow(outputs, base, numClasses, 1 / temperature, scratch);
    } else {
      sharpenRow(outputs, base, numClasses, 1 / temperature, row, scratch);
    }
    for (let c = 0; c < numClasses; c++) result[base + c] = scratch[c] as number;
  }
  return result;
}

function checkFinite(outputs: Float32Array, base: number, numClasses: number, row: number): void {
  for (let c = 0; c < numClasses; c++) {
    const value = outputs[base + c] as number;
    if (!Number.isFinite(value)) {
      throw new FkdError(
        'E_MODEL_SHAPE',
        `The teacher produced ${String(value)} (NaN/Inf) for crop ${row} of the batch, class ${c}. The model or its input is broken: check the normalisation (mean/std) and the model file.`,
      );
    }
  }
}

/** softmax(z · invT) into `out`, in float64. */
function softmaxRow(outputs: Float32Array, base: number, numClasses: number, invT: number, out: Float64Array): void {
  let max = -Infinity;
  for (let c = 0; c < numClasses; c++) max = Math.max(max, outputs[base + c] as number);
  let sum = 0;
  for (let c = 0; c < numClasses; c++) {
    // Scale the (non-positive) distance to the maximum rather than the logit itself, so a
    // tiny temperature cannot overflow; the maximum itself always gets exp(0) = 1.
    const distance = (outputs[base + c] as number) - max;
    const e = distance === 0 ? 1 : Math.exp(distance * invT);
    out[c] = e;
    sum += e;
  }
  // sum ≥ 1 because the maximum contributes exp(0).
  for (let c = 0; c < numClasses; c++) out[c] = (out[c] as number) / sum;
}

/** p^invT renormalised into `out`, in float64; validates that the row is a distribution. */
function sharpenRow(
  outputs: Float32Array,
  base: number,
  numClasses: number,
  invT: number,
  row: number,
  out: Float64Array,
): void {
  let sum = 0;
  for (let c = 0; c < numClasses; c++) {
    const p = outputs[base + c] as number;
    if (p < -NEGATIVE_TOLERANCE) {
      throw new FkdError(
        'E_MODEL_SHAPE',
        `The teacher output for crop ${row} has ${p} at class ${c}, which is not a probability. If the model returns logits, use outputs "logits".`,
      );
    }
    out[c] = Math.max(0, p);
    sum += out[c] as number;
  }
  if (!(Math.abs(sum - 1) <= SUM_TOLERANCE)) {
    throw new FkdError(
      'E_MODEL_SHAPE',
      `The teacher output for crop ${row} sums to ${sum}, not 1, so it is not a probability distribution. If the model returns logits, use outputs "logits".`,
    );
  }
  if (invT === 1) {
    for (let c = 0; c < numClasses; c++) out[c] = (out[c] as number) / sum;
    return;
  }
  // Work with logarithms: p^(1/T) underflows for small T long before the ratios do.
  // As in softmaxRow, scale log-distances to the largest value, which itself gets 1.
  let largest = 0;
  for (let c = 0; c < numClasses; c++) largest = Math.max(largest, out[c] as number);
  const logLargest = Math.log(largest);
  let total = 0;
  for (let c = 0; c < numClasses; c++) {
    const p = out[c] as number;
    const e = p === largest ? 1 : p > 0 ? Math.exp((Math.log(p) - logLargest) * invT) : 0;
    out[c] = e;
    total += e;
  }
  for (let c = 0; c < numClasses; c++) out[c] = (out[c] as number) / total;
}
