import { leftoverShare } from './explicit.js';

/** One explicit row (labels/explicit.ts) in a weighted mean: `k` entries from `start`. */
export interface WeightedRow {
  classes: Uint32Array;
  probs: Float32Array;
  start: number;
  k: number;
  weight: number;
}

/** Leftover shares of the rows being averaged, grown on demand and reused across calls. */
let leftovers = new Float64Array(4);

function named(row: WeightedRow, cls: number): number {
  for (let j = 0; j < row.k; j++) if (row.classes[row.start + j] === cls) return j;
  return -1;
}

/**
 * Writes Σ w_t · row_t, exactly, as one explicit row of `width` entries at `out` of
 * (`outClasses`, `outProbs`): every class some row names, each at Σ_t w_t · (row t's value of
 * it, or row t's leftover share when t does not name it), then classes nobody names at the
 * mean leftover, most probable first (ties: lower class first). `width` is
 * min(C, Σ k_t), so `denseTarget(classes, probs, C, 'marginal')` is the mean of the dense
 * targets. Mixup/CutMix targets (λ, 1 − λ) and the mean of several teachers are both this.
 *
 * @example
 * writeMeanRow([{ classes: a, probs: pa, start: 0, k: 5, weight: 0.6 }, { classes: a, probs: pa, start: 5, k: 5, weight: 0.4 }], 1000, outClasses, outProbs, 0, 10);
 */
export function writeMeanRow(rows: readonly WeightedRow[], numClasses: number, outClasses: Uint32Array, outProbs: Float32Array, out: number, width: number): void {
  if (leftovers.length < rows.length) leftovers = new Float64Array(rows.length * 2);
  let fill = 0;
  for (let t = 0; t < rows.length; t++) {
    const row = rows[t]!;
    leftovers[t] = leftoverShare(row.probs, row.start, row.k, numClasses);
    fill += row.weight * leftovers[t]!;
  }
  const value = (cls: number): number => {
    let sum = 0;
    for (let t = 0; t < rows.length; t++) {
      const row = rows[t]!;
      const j = named(row, cls);
      sum += row.weight * (j < 0 ? leftovers[t]! : row.probs[row.start + j]!);
    }
    return sum;
  };
  let n = 0;
  for (let t = 0; t < rows.length && n < width; t++) {
    const row = rows[t]!;
    for (let j = 0; j < row.k && n < width; j++) {
      const cls = row.classes[row.start + j]!;
      let earlier = false;
      for (let s = 0; s < t && !earlier; s++) earlier = named(rows[s]!, cls) >= 0;
      if (earlier) continue;
      outClasses[out + n] = cls;
      outProbs[out + n++] = value(cls);
    }
  }
  for (let cls = 0; n < width; cls++) {
    let seen = false;
    for (let t = 0; t < rows.length && !seen; t++) seen = named(rows[t]!, cls) >= 0;
    if (seen) continue;
    outClasses[out + n] = cls;
    outProbs[out + n++] = fill;
  }
  // Insertion sort: a row is at most Σ k entries.
  for (let i = 1; i < width; i++) {
    const p = outProbs[out + i]!;
    const c = outClasses[out + i]!;
    let j = i - 1;
    for (; j >= 0 && (outProbs[out + j]! < p || (outProbs[out + j] === p && outClasses[out + j]! > c)); j--) {
      outProbs[out + j + 1] = outProbs[out + j]!;
      outClasses[out + j + 1] = outClasses[out + j]!;
    }
    outProbs[out + j + 1] = p;
    outClasses[out + j + 1] = c;
  }
}
