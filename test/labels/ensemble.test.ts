import { describe, expect, it } from 'vitest';
import { denseTarget } from '../../src/labels/codec.js';
import { ensembleTopK, mergeTeachers, type TeacherRows } from '../../src/labels/ensemble.js';
import { seededRandom } from '../helpers/random.js';

/** `rows` random top-k rows over C classes: distinct classes, probabilities summing below 1. */
function teacher(seed: number, rows: number, k: number, C: number, mode: TeacherRows['mode']): TeacherRows {
  const random = seededRandom(seed);
  const classes = new Uint32Array(rows * k);
  const probs = new Float32Array(rows * k);
  for (let row = 0; row < rows; row++) {
    const picked = new Set<number>();
    while (picked.size < k) picked.add(Math.floor(random() * C));
    const raw = [...picked].map(() => random());
    const total = raw.reduce((a, b) => a + b, 0) / (0.5 + 0.5 * random());
    const values = raw.map((v) => v / total).sort((a, b) => b - a);
    [...picked].forEach((c, j) => ((classes[row * k + j] = c), (probs[row * k + j] = values[j]!)));
  }
  return { classes, probs, k, mode };
}

describe('the teacher mean', () => {
  it.each([
    ['two marginal teachers over 1000 classes', 1000, [teacher(1, 50, 5, 1000, 'marginal'), teacher(2, 50, 5, 1000, 'marginal')], [0.5, 0.5]],
    ['a renorm and a marginal teacher, unequal weights, 8 classes (classes overlap)', 8, [teacher(3, 50, 3, 8, 'renorm'), teacher(4, 50, 2, 8, 'marginal')], [0.75, 0.25]],
    ['three teachers naming more than every class', 6, [teacher(5, 30, 4, 6, 'marginal'), teacher(6, 30, 3, 6, 'renorm'), teacher(7, 30, 2, 6, 'marginal')], [0.2, 0.3, 0.5]],
  ] as const)('rebuilds, with the marginal codec, exactly the weighted mean of the teachers\' dense targets: %s', (_name, C, teachers, weights) => {
    const rows = teachers[0].classes.length / teachers[0].k;
    const merged = mergeTeachers(teachers, weights, C, rows);
    expect(merged.k).toBe(ensembleTopK(teachers.map((t) => t.k), C));
    const mean = new Float32Array(rows * C);
    teachers.forEach((t, i) => denseTarget(t.classes, t.probs, C, t.mode, new Float32Array(rows * C)).forEach((v, q) => (mean[q] = mean[q]! + weights[i]! * v)));
    const got = denseTarget(merged.classes, merged.probs, C, 'marginal', new Float32Array(rows * C));
    for (let q = 0; q < got.length; q++) expect(got[q]).toBeCloseTo(mean[q]!, 6);
    for (let row = 0; row < rows; row++) {
      const names = merged.classes.subarray(row * merged.k, (row + 1) * merged.k);
      expect(new Set(names).size).toBe(merged.k);
      const values = merged.probs.subarray(row * merged.k, (row + 1) * merged.k);
      for (let j = 1; j < merged.k; j++) expect(values[j]!).toBeLessThanOrEqual(values[j - 1]!);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += got[row * C + c]!;
      expect(sum).toBeCloseTo(1, 5);
    }
  });
});
