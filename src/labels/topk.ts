import { FkdError } from '../errors.js';

/** The k most probable classes of each row, row-major rows × k, most probable first. */
export interface TopK {
  classes: Uint32Array;
  probs: Float32Array;
}

/**
 * Up to this k an insertion buffer beats sorting the whole row: each class costs one
 * comparison unless it enters the top k, which few do.
 */
const INSERTION_LIMIT = 32;

/**
 * Select the k largest probabilities of each row, in descending order. Equal
 * probabilities are ordered by the lower class index first, so the result depends only
 * on the values, never on the algorithm. Pass `out` (both arrays exactly rows × k) to
 * reuse buffers.
 *
 * @example
 * topK(new Float32Array([0.1, 0.4, 0.1, 0.4]), 1, 4, 3);
 * // { classes: Uint32Array [1, 3, 0], probs: Float32Array [0.4, 0.4, 0.1] }
 */
export function topK(probs: Float32Array, rows: number, numClasses: number, k: number, out?: TopK): TopK {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new FkdError('E_USAGE', `Expected a positive integer for numClasses but received ${String(numClasses)}.`);
  }
  if (!Number.isInteger(rows) || rows < 0) {
    throw new FkdError('E_USAGE', `Expected a non-negative integer for rows but received ${String(rows)}.`);
  }
  if (!Number.isInteger(k) || k < 1 || k > numClasses) {
    throw new FkdError('E_USAGE', `Expected k to be an integer in 1..${numClasses} (the class count) but received ${String(k)}.`);
  }
  if (probs.length !== rows * numClasses) {
    throw new FkdError('E_USAGE', `Expected ${rows} × ${numClasses} probabilities but received ${probs.length}.`);
  }
  if (out && (out.classes.length !== rows * k || out.probs.length !== rows * k)) {
    throw new RangeError(`topK: out holds ${out.classes.length} classes and ${out.probs.length} probabilities; ${rows} × ${k} are needed.`);
  }
  const classes = out?.classes ?? new Uint32Array(rows * k);
  const top = out?.probs ?? new Float32Array(rows * k);
  const select = k <= INSERTION_LIMIT ? selectByInsertion : selectBySorting;
  for (let row = 0; row < rows; row++) {
    select(probs, row * numClasses, numClasses, k, classes, top, row * k);
  }
  return { classes, probs: top };
}

function checkNumber(value: number, cls: number): void {
  if (Number.isNaN(value)) {
    throw new FkdError('E_USAGE', `Expected probabilities but received NaN at class ${cls}.`);
  }
}

function selectByInsertion(
  probs: Float32Array,
  base: number,
  numClasses: number,
  k: number,
  classes: Uint32Array,
  top: Float32Array,
  at: number,
): void {
  let count = 0;
  for (let cls = 0; cls < numClasses; cls++) {
    const value = probs[base + cls] as number;
    checkNumber(value, cls);
    // Strict comparisons keep an earlier (lower) class ahead of an equal later one.
    if (count === k && !(value > (top[at + k - 1] as number))) continue;
    let pos = count < k ? count++ : k - 1;
    while (pos > 0 && (top[at + pos - 1] as number) < value) {
      top[at + pos] = top[at + pos - 1] as number;
      classes[at + pos] = classes[at + pos - 1] as number;
      pos--;
    }
    top[at + pos] = value;
    classes[at + pos] = cls;
  }
}

function selectBySorting(
  probs: Float32Array,
  base: number,
  numClasses: number,
  k: number,
  classes: Uint32Array,
  top: Float32Array,
  at: number,
): void {
  const order = new Uint32Array(numClasses);
  for (let cls = 0; cls < numClasses; cls++) {
    checkNumber(probs[base + cls] as number, cls);
    order[cls] = cls;
  }
  order.sort((a, b) => (probs[base + b] as number) - (probs[base + a] as number) || a - b);
  for (let j = 0; j < k; j++) {
    const cls = order[j] as number;
    classes[at + j] = cls;
    top[at + j] = probs[base + cls] as number;
  }
}
