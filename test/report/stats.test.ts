import { describe, expect, it } from 'vitest';
import { decodeProbabilities, encodeProbabilities } from '../../src/labels/codec.js';
import { RecordSample } from '../../src/report/sample.js';
import { SCALE_BINS, StatsAccumulator, binOf } from '../../src/report/stats.js';
import type { EpochRecords } from '../../src/store/format/columns.js';

interface Crop {
  box: [number, number, number, number];
  classes: number[];
  probs: number[];
}

/** An epoch block of `crops` records per image, built from readable rows. */
function block(crops: number, rows: Crop[], epoch = 0): EpochRecords {
  const topK = rows[0]!.classes.length;
  return {
    epoch,
    crops,
    topK,
    count: rows.length,
    top: Uint16Array.from(rows, (r) => r.box[0]),
    left: Uint16Array.from(rows, (r) => r.box[1]),
    height: Uint16Array.from(rows, (r) => r.box[2]),
    width: Uint16Array.from(rows, (r) => r.box[3]),
    flip: new Uint8Array(rows.length),
    classes: Uint32Array.from(rows.flatMap((r) => r.classes)),
    codes: encodeProbabilities(rows.flatMap((r) => r.probs)),
  };
}

// As the loader decodes them: through the float32 table.
const stored = (p: number): number => decodeProbabilities(encodeProbabilities([p]))[0]!;
const bits = (ps: number[]): number => -ps.reduce((sum, p) => sum + (p > 0 ? p * Math.log2(p) : 0), 0);

describe('report statistics', () => {
  const classes = ['ant', 'bee', 'cat', 'dog'];

  it('counts agreement with the folder label overall, by class (worst first) and by crop scale', () => {
    const stats = new StatsAccumulator({ classes, topK: 2, target: 'marginal', scale: [0, 1] });
    // Image 0 (class 1, 10×10): one crop agrees at scale 0.04, one does not at scale 0.81.
    // Image 1 (class 2, 20×10): both crops agree, at scales 0.5 and 1.
    stats.add(
      block(2, [
        { box: [0, 0, 2, 2], classes: [1, 0], probs: [0.9, 0.05] },
        { box: [0, 0, 9, 9], classes: [3, 1], probs: [0.6, 0.3] },
        { box: [0, 0, 10, 10], classes: [2, 1], probs: [0.5, 0.25] },
        { box: [0, 0, 10, 20], classes: [2, 0], probs: [0.7, 0.2] },
      ]),
      { classOf: [1, 2], areaOf: [100, 200] },
    );
    const result = stats.result();
    expect(result.records).toBe(4);
    expect(result.agreeing).toBe(3);
    expect(result.agreement).toBe(0.75);
    expect(result.byClass.map((c) => [c.name, c.records, c.agreement])).toEqual([
      ['bee', 2, 0.5],
      ['cat', 2, 1],
      ['ant', 0, null],
      ['dog', 0, null],
    ]);
    expect(result.byScale).toHaveLength(SCALE_BINS);
    const used = result.byScale.filter((bin) => bin.records > 0).map((bin) => [Number(bin.from.toFixed(1)), bin.records, bin.agreement]);
    expect(used).toEqual([
      [0, 1, 1],
      [0.5, 1, 1],
      [0.8, 1, 0],
      [0.9, 1, 1],
    ]);
  });

  it('computes top-1, mass outside the top-k and the marginal-smoothing entropy in bits, from the stored codes', () => {
    const stats = new StatsAccumulator({ classes, topK: 2, target: 'marginal', scale: [0.08, 1], bins: 10 });
    stats.add(block(1, [{ box: [0, 0, 5, 5], classes: [0, 1], probs: [0.55, 0.3] }]), { classOf: [0], areaOf: [100] });
    const result = stats.result();
    const [p1, p2] = [stored(0.55), stored(0.3)];
    const rest = 1 - p1 - p2;
    expect(result.top1.mean).toBeCloseTo(p1, 12);
    expect(result.outsideTopK.mean).toBeCloseTo(rest, 12);
    // The loader spreads the leftover over the 2 other classes: 4 probabilities in all.
    expect(result.entropy.mean).toBeCloseTo(bits([p1, p2, rest / 2, rest / 2]), 12);
    expect(result.entropy.max).toBe(2);
    expect(result.top1.histogram.counts).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    // The outside-mass axis ends at the smallest round range above the largest value (0.15 → 0.2).
    expect(result.outsideTopK.histogram.to).toBe(0.2);
    expect(result.outsideTopK.histogram.counts[7]).toBe(1);
    expect(result.entropy.histogram.counts.reduce((a, b) => a + b)).toBe(1);
  });

  it('uses the renormalised top-k for the entropy in renorm mode', () => {
    const stats = new StatsAccumulator({ classes, topK: 2, target: 'renorm', scale: [0.08, 1] });
    stats.add(block(1, [{ box: [0, 0, 5, 5], classes: [0, 1], probs: [0.6, 0.2] }]), { classOf: [0], areaOf: [100] });
    const [p1, p2] = [stored(0.6), stored(0.2)];
    expect(stats.result().entropy.mean).toBeCloseTo(bits([p1 / (p1 + p2), p2 / (p1 + p2)]), 12);
    expect(stats.result().entropy.max).toBe(1);
  });

  it('gives the same result however the records are split into blocks', () => {
    const rows: Crop[] = Array.from({ length: 12 }, (_, i) => ({ box: [0, 0, 1 + (i % 7), 3], classes: [i % 4, (i + 1) % 4], probs: [0.5 + i / 40, 0.1] }));
    const whole = new StatsAccumulator({ classes, topK: 2, target: 'marginal', scale: [0.08, 1] });
    whole.add(block(2, rows), { classOf: [0, 1, 2, 3, 0, 1], areaOf: [50, 50, 50, 50, 50, 50] });
    const split = new StatsAccumulator({ classes, topK: 2, target: 'marginal', scale: [0.08, 1] });
    split.add(block(2, rows.slice(0, 4)), { classOf: [0, 1], areaOf: [50, 50] });
    split.add(block(2, rows.slice(4)), { classOf: [2, 3, 0, 1], areaOf: [50, 50, 50, 50] });
    expect(split.result()).toEqual(whole.result());
  });

  it('refuses blocks whose image facts do not match their record count', () => {
    const stats = new StatsAccumulator({ classes, topK: 2, target: 'marginal', scale: [0.08, 1] });
    expect(() => stats.add(block(2, [{ box: [0, 0, 1, 1], classes: [0, 1], probs: [0.5, 0.5] }, { box: [0, 0, 1, 1], classes: [0, 1], probs: [0.5, 0.5] }]), { classOf: [0, 1], areaOf: [1, 1] })).toThrow(/facts for 1 images/);
    expect(() => new StatsAccumulator({ classes, topK: 5, target: 'marginal', scale: [0.08, 1] })).toThrow(/topK in 1\.\.4/);
  });

  it('clamps values outside the range into the end bins', () => {
    expect(binOf(-1, 0, 1, 10)).toBe(0);
    expect(binOf(1, 0, 1, 10)).toBe(9);
    expect(binOf(5, 0, 1, 10)).toBe(9);
    expect(binOf(0.35, 0, 1, 10)).toBe(3);
  });
});

describe('contact-sheet sample', () => {
  const describeRecord = (epoch: number, image: number, crop: number) => () => ({ epoch, image, crop, path: `c/${image}.jpg`, box: { top: 0, left: 0, height: 1, width: 1, flip: false }, folderClass: 0, top: [] });

  it('keeps the same records whatever order they are offered in, and at most `size`', () => {
    const all: Array<[number, number, number]> = [];
    for (let epoch = 0; epoch < 3; epoch++) for (let image = 0; image < 40; image++) for (let crop = 0; crop < 4; crop++) all.push([epoch, image, crop]);
    const forward = new RecordSample(10, 7);
    for (const [e, i, c] of all) forward.offer(e, i, c, describeRecord(e, i, c));
    const backward = new RecordSample(10, 7);
    for (const [e, i, c] of [...all].reverse()) backward.offer(e, i, c, describeRecord(e, i, c));
    expect(forward.records()).toHaveLength(10);
    expect(backward.records()).toEqual(forward.records());
    const other = new RecordSample(10, 8);
    for (const [e, i, c] of all) other.offer(e, i, c, describeRecord(e, i, c));
    expect(other.records()).not.toEqual(forward.records());
  });

  it('describes only records it keeps for now, and none when the size is 0', () => {
    let described = 0;
    const sample = new RecordSample(3, 0);
    for (let image = 0; image < 1000; image++) {
      sample.offer(0, image, 0, () => {
        described++;
        return describeRecord(0, image, 0)();
      });
    }
    expect(described).toBeLessThan(60);
    const none = new RecordSample(0, 0);
    none.offer(0, 0, 0, () => {
      throw new Error('must not describe');
    });
    expect(none.records()).toEqual([]);
  });
});
