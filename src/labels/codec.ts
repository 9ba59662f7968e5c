import { FkdError } from '../errors.js';
import { targetCodec, type TargetMode } from './targets.js';

// Re-exported for callers that know the codec module; the table itself lives in targets.ts.
export { TARGET_MODES, type TargetMode } from './targets.js';

/**
 * Width of one code step in natural-log space. Rounding to the nearest step is off by at
 * most half a step, so the decoded value is within a factor exp(±STEP/2) of the input:
 * exp(0.00975) − 1 = 0.98% relative error, under the 1% budget with room for float32
 * storage. Linear steps would not do: a flat teacher gives ~0.001 everywhere and 8-bit
 * linear codes would round all of it to 0.
 */
export const PROBABILITY_STEP_LN = 0.0195;

/** The code reserved for a probability of exactly 0 (all other codes decode to > 0). */
export const ZERO_CODE = 0xffff;

/** Largest code that stands for a positive probability. */
export const MAX_POSITIVE_CODE = 0xfffe;

/**
 * Worst relative error |decode(encode(p)) − p| / p for any p in [1e-30, 1]:
 * exp(PROBABILITY_STEP_LN / 2) − 1 ≈ 0.0098.
 */
export const MAX_RELATIVE_ERROR = Math.expm1(PROBABILITY_STEP_LN / 2);

/**
 * The largest sum the decoded top-k probabilities of one record can have when the inputs
 * were a probability distribution: each may be rounded up by at most MAX_RELATIVE_ERROR.
 * The 1e-4 slack absorbs float32 rounding of inputs that sum to 1. Shard validation
 * rejects records above it, because no teacher output can produce them.
 */
export const MAX_TOPK_SUM = (1 + MAX_RELATIVE_ERROR) * (1 + 1e-4);

/** The codec as recorded in `manifest.json` under `codec`. */
export interface CodecDescription {
  name: 'topk-log16';
  topK: number;
  stepLn: number;
  target: TargetMode;
}

export const CODEC_NAME = 'topk-log16';

/**
 * The `codec` object to write into the manifest.
 *
 * @example
 * codecDescription(5, 'marginal'); // { name: 'topk-log16', topK: 5, stepLn: 0.0195, target: 'marginal' }
 */
export function codecDescription(topK: number, target: TargetMode): CodecDescription {
  if (!Number.isInteger(topK) || topK < 1) {
    throw new FkdError('E_USAGE', `Expected a positive integer for topK but received ${String(topK)}.`);
  }
  targetCodec(target);
  return { name: CODEC_NAME, topK, stepLn: PROBABILITY_STEP_LN, target };
}

/**
 * Quantise a probability to a uint16 code: round(−ln(p) / PROBABILITY_STEP_LN), with 0 for
 * p ≥ 1 and ZERO_CODE for p = 0. Larger probabilities get smaller codes, so top-k
 * probabilities in descending order give non-decreasing codes.
 *
 * @example
 * encodeProbability(1);   // 0
 * encodeProbability(0.5); // 36
 * encodeProbability(0);   // 65535
 */
export function encodeProbability(p: number): number {
  if (!(p >= 0) || p === Infinity) {
    throw new FkdError('E_USAGE', `Expected a probability in [0, 1] but received ${String(p)}.`);
  }
  if (p === 0) return ZERO_CODE;
  if (p >= 1) return 0;
  // A positive double is ≥ 5e-324, so −ln(p)/STEP ≤ 38178 and never reaches ZERO_CODE;
  // the clamp only documents the invariant.
  return Math.min(MAX_POSITIVE_CODE, Math.round(-Math.log(p) / PROBABILITY_STEP_LN));
}

/**
 * Inverse of `encodeProbability`: exp(−code × PROBABILITY_STEP_LN), or exactly 0 for ZERO_CODE.
 *
 * @example
 * decodeProbability(36);    // 0.4956… (within 0.98% of 0.5)
 * decodeProbability(65535); // 0
 */
export function decodeProbability(code: number): number {
  if (!Number.isInteger(code) || code < 0 || code > ZERO_CODE) {
    throw new FkdError('E_USAGE', `Expected a probability code in 0..65535 but received ${String(code)}.`);
  }
  return code === ZERO_CODE ? 0 : Math.exp(-code * PROBABILITY_STEP_LN);
}

/**
 * Encode many probabilities at once (e.g. the `probs` of `topK`).
 *
 * @example
 * encodeProbabilities(new Float32Array([0.9, 0.05])); // Uint16Array [5, 154]
 */
export function encodeProbabilities(probs: ArrayLike<number>, out = new Uint16Array(probs.length)): Uint16Array {
  if (out.length !== probs.length) {
    throw new FkdError('E_USAGE', `Expected an output of length ${probs.length} but received ${out.length}.`);
  }
  for (let i = 0; i < probs.length; i++) out[i] = encodeProbability(probs[i] as number);
  return out;
}

let decodeTable: Float32Array | undefined;

/** Every code's float32 probability (index = code), built once: what the loader decodes through. */
export function probabilityTable(): Float32Array {
  if (decodeTable === undefined) {
    decodeTable = new Float32Array(ZERO_CODE + 1);
    for (let code = 0; code < ZERO_CODE; code++) decodeTable[code] = Math.exp(-code * PROBABILITY_STEP_LN);
    decodeTable[ZERO_CODE] = 0;
  }
  return decodeTable;
}

/**
 * Decode many codes at once through a 64 Ki-entry float32 table, which is what the
 * student loader does for every record it reads.
 *
 * @example
 * decodeProbabilities(new Uint16Array([5, 154])); // Float32Array [0.9071…, 0.0496…]
 */
export function decodeProbabilities(codes: Uint16Array, out = new Float32Array(codes.length)): Float32Array {
  if (out.length !== codes.length) {
    throw new FkdError('E_USAGE', `Expected an output of length ${codes.length} but received ${out.length}.`);
  }
  const table = probabilityTable();
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i] as number] as number;
  return out;
}

/**
 * Rebuild dense C-way targets from top-k classes and (decoded) probabilities.
 *
 * `classes` and `probs` hold rows × k values, row-major; the number of rows is
 * `out.length / numClasses`, so pass an `out` of rows × numClasses to rebuild a batch
 * (the default is one row). Each row must name distinct classes (as the shard decoder
 * guarantees) whose probabilities sum to at most 1 up to quantisation; both are checked.
 *
 * - `marginal` (FKD's marginal smoothing): each top-k class gets its probability, and the
 *   leftover max(0, 1 − Σ top-k) is spread evenly over the other C − k classes. When
 *   k = C there is nowhere to put it and it is dropped. Rows sum to 1 up to quantisation
 *   (within MAX_RELATIVE_ERROR when the top-k sum was rounded above 1).
 * - `renorm`: the top-k probabilities are rescaled to sum to 1; the other classes get 0.
 *   A row whose probabilities are all 0 becomes uniform over its k classes.
 *
 * @example
 * denseTarget(new Uint32Array([2, 0]), new Float32Array([0.6, 0.2]), 4, 'marginal');
 * // ≈ Float32Array [0.2, 0.1, 0.6, 0.1]
 * denseTarget(new Uint32Array([2, 0]), new Float32Array([0.6, 0.2]), 4, 'renorm');
 * // ≈ Float32Array [0.25, 0, 0.75, 0]
 */
export function denseTarget(
  classes: ArrayLike<number>,
  probs: ArrayLike<number>,
  numClasses: number,
  mode: TargetMode,
  out: Float32Array = new Float32Array(numClasses),
): Float32Array {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new FkdError('E_USAGE', `Expected a positive integer for numClasses but received ${String(numClasses)}.`);
  }
  const codec = targetCodec(mode);
  if (probs.length !== classes.length) {
    throw new FkdError('E_USAGE', `Expected as many probabilities as classes (${classes.length}) but received ${probs.length}.`);
  }
  const rows = out.length / numClasses;
  if (!Number.isInteger(rows) || rows < 1) {
    throw new FkdError('E_USAGE', `Expected an output of rows × ${numClasses} values but received ${out.length}.`);
  }
  const k = classes.length / rows;
  if (!Number.isInteger(k) || k < 1 || k > numClasses) {
    throw new FkdError('E_USAGE', `Expected rows × k classes with 1 ≤ k ≤ ${numClasses} for ${rows} row(s) but received ${classes.length}.`);
  }
  for (let row = 0; row < rows; row++) {
    const base = row * numClasses;
    const first = row * k;
    let sum = 0;
    for (let j = 0; j < k; j++) sum += probs[first + j] as number;
    // Also catches a batch passed without `out`: it reads as one row summing to ~rows.
    if (!(sum >= 0 && sum <= MAX_TOPK_SUM)) {
      throw new FkdError(
        'E_USAGE',
        `Expected the top-${k} probabilities of row ${row} to sum to at most 1 but they sum to ${sum}. To rebuild several rows, pass an out array of rows × numClasses.`,
      );
    }
    // NaN marks "not a top-k class yet", which finds repeated classes in the same pass.
    out.fill(Number.NaN, base, base + numClasses);
    for (let j = 0; j < k; j++) {
      const cls = classes[first + j] as number;
      if (!Number.isInteger(cls) || cls < 0 || cls >= numClasses) {
        throw new FkdError('E_USAGE', `Expected class indices in 0..${numClasses - 1} but received ${String(cls)}.`);
      }
      if (!Number.isNaN(out[base + cls])) {
        throw new FkdError('E_USAGE', `Expected distinct classes in each row but row ${row} names class ${cls} twice.`);
      }
      const p = probs[first + j] as number;
      out[base + cls] = codec.top(p, sum, k);
    }
    const fill = codec.rest(sum, k, numClasses);
    for (let c = base; c < base + numClasses; c++) {
      if (Number.isNaN(out[c])) out[c] = fill;
    }
  }
  return out;
}
