import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confidenceShares } from '../../src/check/confidence.js';
import { label } from '../../src/generate/label.js';
import { createLoader } from '../../src/loader/loader.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { collectBatches } from '../helpers/batches.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

let work: string;
let labels: LabelSet;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-confidence-'));
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: join(work, 'labels'), epochs: 2, crops: 3, topK: 1, threads: 1 });
  labels = await openLabels(join(work, 'labels'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('confidence shares', () => {
  it('count, per threshold, the records a calibrated loader would turn into one-hots, over every label epoch', async () => {
    const thresholds = [0.1, 0.3, 0.5, 0.9, 1];
    const shares = await confidenceShares(labels, thresholds);
    expect(shares.records).toBe(24 * 3 * 2);
    const confidences: number[] = [];
    for (const epoch of [0, 1]) {
      for (const batch of await collectBatches(createLoader({ data: FIXTURE_IMAGES, labels, epoch, batchSize: 16, size: 8, workers: 0, dtype: 'uint8', copy: true, target: { mode: 'calibrated', threshold: 0.5 } }))) {
        confidences.push(...batch.meta.map((m) => m.teacherConfidence!));
      }
    }
    expect(shares.below).toEqual(thresholds.map((t) => ({ threshold: t, share: confidences.filter((p) => p < t).length / confidences.length })));
    expect(shares.below.at(-1)!.share, 'some crops doubt their folder').toBeGreaterThan(0);
  });
});
