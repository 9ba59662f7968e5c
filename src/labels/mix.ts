import { writeMeanRow } from './mean.js';

/** Where the mixed rows go: `width` = min(2k, numClasses) entries per row. */
export interface MixedRows {
  classes: Uint32Array;
  probs: Float32Array;
  width: number;
}

/**
 * Writes λ·t_own + (1 − λ)·t_partner as row `out` of `mixed`, where t_x is explicit row x
 * of (`classes`, `probs`), `k` per row (see explicit.ts): the weighted mean of the two rows
 * (labels/mean.ts), which is exactly the mixed dense target and again an explicit row, so
 * `dense()` rebuilds it with the same codec. `partner === own` copies the row (an unmixed sample).
 *
 * @example
 * mixRows(classes, probs, 5, 1000, 3, 7, 0.6, mixed, 3);
 */
export function mixRows(classes: Uint32Array, probs: Float32Array, k: number, numClasses: number, own: number, partner: number, lambda: number, mixed: MixedRows, out: number): void {
  const rows = [
    { classes, probs, start: own * k, k, weight: lambda },
    { classes, probs, start: partner * k, k, weight: 1 - lambda },
  ];
  writeMeanRow(rows, numClasses, mixed.classes, mixed.probs, out * mixed.width, mixed.width);
}
