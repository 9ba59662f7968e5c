import { toExplicit } from './explicit.js';
import { writeMeanRow } from './mean.js';
import type { TargetMode } from './targets.js';

/** One teacher's stored rows: `k` classes and probabilities per row, read by its codec `mode`. */
export interface TeacherRows {
  classes: Uint32Array;
  probs: Float32Array;
  k: number;
  mode: TargetMode;
}

/**
 * How many entries a row of the weighted mean needs: every class any teacher names, and one
 * more for the share of the classes none names (or all C when that is fewer).
 */
export function ensembleTopK(ks: readonly number[], numClasses: number): number {
  return Math.min(numClasses, ks.reduce((sum, k) => sum + k, 0));
}

/**
 * The weighted mean of several teachers' distributions, row by row, in the explicit top-k form
 * (labels/explicit.ts): each teacher's row is first made explicit (its named classes, and an
 * even share of what is left for every other class); the mean of those is exact as a row
 * naming the union of the classes, padded with classes nobody named at the mean leftover
 * share, so `denseTarget(classes, probs, C, 'marginal')` gives Σ w_t · dense_t.
 *
 * @example
 * const out = mergeTeachers([a, b], [0.5, 0.5], 1000, rows); // out.k === ensembleTopK([a.k, b.k], 1000)
 */
export function mergeTeachers(teachers: readonly TeacherRows[], weights: readonly number[], numClasses: number, rows: number): { classes: Uint32Array; probs: Float32Array; k: number } {
  const k = ensembleTopK(teachers.map((t) => t.k), numClasses);
  const classes = new Uint32Array(rows * k);
  const probs = new Float32Array(rows * k);
  const explicit = teachers.map((t) => {
    const copy = Float32Array.from(t.probs.subarray(0, rows * t.k));
    toExplicit(copy, t.k, rows, t.mode);
    return copy;
  });
  const sources = teachers.map((teacher, t) => ({ classes: teacher.classes, probs: explicit[t]!, start: 0, k: teacher.k, weight: weights[t]! }));
  for (let row = 0; row < rows; row++) {
    for (const source of sources) source.start = row * source.k;
    writeMeanRow(sources, numClasses, classes, probs, row * k, k);
  }
  return { classes, probs, k };
}
