import { describe, expect, it } from 'vitest';
import { denseTarget } from '../../src/labels/codec.js';
import { writeMeanRow, type WeightedRow } from '../../src/labels/mean.js';

const C = 8;
const row = (classes: number[], probs: number[], weight: number): WeightedRow => ({ classes: Uint32Array.from(classes), probs: Float32Array.from(probs), start: 0, k: classes.length, weight });

describe('writeMeanRow, the one weighted mean behind Mixup/CutMix targets and several teachers', () => {
  it("gives a row whose dense target is the weighted sum of the rows' dense targets", () => {
    const rows = [row([3, 1], [0.6, 0.3], 0.5), row([1, 5, 0], [0.5, 0.2, 0.1], 0.3), row([7], [0.9], 0.2)];
    const width = 6;
    const classes = new Uint32Array(width);
    const probs = new Float32Array(width);
    writeMeanRow(rows, C, classes, probs, 0, width);
    const expected = new Float64Array(C);
    for (const r of rows) denseTarget(r.classes, r.probs, C, 'marginal').forEach((p, c) => (expected[c]! += r.weight * p));
    const got = denseTarget(classes, probs, C, 'marginal');
    got.forEach((p, c) => expect(p).toBeCloseTo(expected[c]!, 6));
    expect(new Set(classes).size).toBe(width);
    for (let j = 1; j < width; j++) expect(probs[j - 1]!).toBeGreaterThanOrEqual(probs[j]!);
  });

  it('pads with unnamed classes at the mean leftover, lower class first on ties, and reads each row from its start', () => {
    const shared = { classes: Uint32Array.from([9, 9, 2, 4]), probs: Float32Array.from([0, 0, 0.5, 0.5]) };
    const rows: WeightedRow[] = [{ ...shared, start: 2, k: 1, weight: 1 }, { ...shared, start: 3, k: 1, weight: 0 }];
    const classes = new Uint32Array(3);
    const probs = new Float32Array(3);
    writeMeanRow(rows, C, classes, probs, 0, 3);
    // Class 2 keeps 0.5; 4 is named by a row of weight 0, so it gets the leftover 0.5 / 7, like class 0.
    expect(Array.from(classes)).toEqual([2, 0, 4]);
    expect(probs[0]).toBeCloseTo(0.5, 6);
    expect(probs[1]).toBeCloseTo(0.5 / 7, 6);
    expect(probs[2]).toBeCloseTo(0.5 / 7, 6);
  });
});
