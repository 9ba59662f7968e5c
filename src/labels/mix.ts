import { leftoverShare } from './explicit.js';

/** Where the mixed rows go: `width` = min(2k, numClasses) entries per row. */
export interface MixedRows {
  classes: Uint32Array;
  probs: Float32Array;
  width: number;
}

/** Index of `cls` among the `k` classes from `first`, or -1. */
function find(classes: Uint32Array, first: number, k: number, cls: number): number {
  for (let j = 0; j < k; j++) if (classes[first + j] === cls) return j;
  return -1;
}

/**
 * Writes λ·t_own + (1 − λ)·t_partner as row `out` of `mixed`, where t_x is explicit row x
 * of (`classes`, `probs`), `k` per row (see explicit.ts). The result names the union of both
 * rows' classes, padded with unnamed classes at the shared leftover value, most probable
 * first: that is exactly the mixed dense target, and again an explicit row, so `dense()`
 * rebuilds it with the same codec. `partner === own` copies the row (an unmixed sample).
 *
 * @example
 * mixRows(classes, probs, 5, 1000, 3, 7, 0.6, mixed, 3);
 */
export function mixRows(classes: Uint32Array, probs: Float32Array, k: number, numClasses: number, own: number, partner: number, lambda: number, mixed: MixedRows, out: number): void {
  const a = own * k;
  const b = partner * k;
  const o = out * mixed.width;
  const restOwn = leftoverShare(probs, a, k, numClasses);
  const restPartner = leftoverShare(probs, b, k, numClasses);
  let n = 0;
  for (let j = 0; j < k; j++) {
    const cls = classes[a + j]!;
    const there = find(classes, b, k, cls);
    mixed.classes[o + n] = cls;
    mixed.probs[o + n++] = lambda * probs[a + j]! + (1 - lambda) * (there < 0 ? restPartner : probs[b + there]!);
  }
  for (let j = 0; j < k; j++) {
    const cls = classes[b + j]!;
    if (find(classes, a, k, cls) >= 0) continue;
    mixed.classes[o + n] = cls;
    mixed.probs[o + n++] = lambda * restOwn + (1 - lambda) * probs[b + j]!;
  }
  const fill = lambda * restOwn + (1 - lambda) * restPartner;
  for (let cls = 0; n < mixed.width; cls++) {
    if (find(classes, a, k, cls) >= 0 || find(classes, b, k, cls) >= 0) continue;
    mixed.classes[o + n] = cls;
    mixed.probs[o + n++] = fill;
  }
  // Insertion sort: a row is at most 2k entries.
  for (let i = 1; i < mixed.width; i++) {
    const p = mixed.probs[o + i]!;
    const c = mixed.classes[o + i]!;
    let j = i - 1;
    for (; j >= 0 && mixed.probs[o + j]! < p; j--) {
      mixed.probs[o + j + 1] = mixed.probs[o + j]!;
      mixed.classes[o + j + 1] = mixed.classes[o + j]!;
    }
    mixed.probs[o + j + 1] = p;
    mixed.classes[o + j + 1] = c;
  }
}
