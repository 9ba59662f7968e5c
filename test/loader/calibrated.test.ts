import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { label } from '../../src/generate/label.js';
import type { Batch } from '../../src/loader/batch.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { collectBatches } from '../helpers/batches.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

let work: string;
let labels: LabelSet;
let labelsTop1: LabelSet;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-calibrated-'));
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: join(work, 'labels'), epochs: 1, crops: 3, topK: 2, threads: 1 });
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: join(work, 'top1'), epochs: 1, crops: 3, topK: 1, threads: 1 });
  labels = await openLabels(join(work, 'labels'));
  labelsTop1 = await openLabels(join(work, 'top1'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const options = (extra: Partial<LoaderOptions> = {}): LoaderOptions => ({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 8, size: 8, workers: 0, shuffle: false, dtype: 'uint8', copy: true, ...extra });

const collect = (loaderOptions: LoaderOptions): Promise<Batch[]> => collectBatches(createLoader(loaderOptions));

/** Rows of the dense targets of every batch, with each sample's folder class and confidence. */
async function rows(extra: Partial<LoaderOptions>) {
  const out: Array<{ dense: number[]; folder: number; confidence: number | undefined }> = [];
  for (const batch of await collect(options(extra))) {
    const dense = batch.targets.dense();
    const c = batch.targets.numClasses;
    for (let i = 0; i < batch.size; i++) out.push({ dense: Array.from(dense.subarray(i * c, (i + 1) * c)), folder: batch.meta[i]!.classIndex, confidence: batch.meta[i]!.teacherConfidence });
  }
  return out;
}

describe('calibrated targets', () => {
  it('report the stored probability of the folder class, 0 when it is outside the top-k', async () => {
    const batches = await collect(options({ labels: labelsTop1, target: { mode: 'calibrated', threshold: 0 } }));
    let outside = 0;
    for (const batch of batches) {
      const k = batch.targets.topK;
      for (let i = 0; i < batch.size; i++) {
        const meta = batch.meta[i]!;
        const j = Array.from(batch.targets.classes.subarray(i * k, (i + 1) * k)).indexOf(meta.classIndex);
        expect(meta.teacherConfidence).toBe(j < 0 ? 0 : batch.targets.probs[i * k + j]);
        if (j < 0) outside++;
      }
    }
    expect(outside, 'the fixture has crops whose folder class is not the top-1').toBeGreaterThan(0);
  });

  it('keep the soft label exactly at the threshold and above it, and use the smoothed one-hot just below it', async () => {
    const soft = await rows({});
    const probe = await rows({ target: { mode: 'calibrated', threshold: 0 } });
    // A confidence that really occurs, so "exactly at" is tested on a stored value.
    const at = probe.map((r) => r.confidence!).filter((p) => p > 0).sort((a, b) => a - b)[Math.floor(probe.length / 3)]!;
    const smoothing = 0.2;
    const c = labels.numClasses;
    const oneHot = (folder: number) => Array.from({ length: c }, (_, k) => (k === folder ? 1 - smoothing + smoothing / c : smoothing / c));
    for (const [threshold, hardWhen] of [
      [at, (p: number) => p < at],
      [at + Number.EPSILON, (p: number) => p <= at],
      [at - 1e-9, (p: number) => p < at - 1e-9],
    ] as const) {
      const calibrated = await rows({ target: { mode: 'calibrated', threshold, smoothing } });
      let hard = 0;
      for (const [n, row] of calibrated.entries()) {
        const want = hardWhen(row.confidence!) ? oneHot(row.folder) : soft[n]!.dense;
        if (hardWhen(row.confidence!)) hard++;
        row.dense.forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 6));
        expect(row.dense.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
      }
      expect(hard).toBeGreaterThan(0);
      expect(hard).toBeLessThan(calibrated.length);
    }
    const atRows = await rows({ target: { mode: 'calibrated', threshold: at, smoothing } });
    expect(atRows.some((r) => r.confidence === at && r.dense.every((v, k) => Math.abs(v - soft[atRows.indexOf(r)]!.dense[k]!) < 1e-6)), 'a crop exactly at the threshold keeps its soft label').toBe(true);
  });

  it('mix the calibrated targets, not the stored ones', async () => {
    const calibrated = await collect(options({ target: { mode: 'calibrated', threshold: 0.6 } }));
    const both = await collect(options({ target: { mode: 'calibrated', threshold: 0.6 }, mix: { mode: 'mixup', seed: 1 } }));
    const c = labels.numClasses;
    for (const [b, batch] of both.entries()) {
      const before = calibrated[b]!.targets.dense();
      const dense = batch.targets.dense();
      for (let i = 0; i < batch.size; i++) {
        const { partner, lambda } = batch.meta[i]!.mix!;
        for (let k = 0; k < c; k++) expect(dense[i * c + k]).toBeCloseTo(lambda * before[i * c + k]! + (1 - lambda) * before[partner * c + k]!, 5);
      }
    }
  });

  it.each([
    [{ mode: 'calibrated' }, /target\.threshold is required/],
    [{ mode: 'hard', threshold: 0.3 }, /one of calibrated for target\.mode/],
    [{ mode: 'calibrated', threshold: 1.5 }, /number in \[0, 1\] for target\.threshold/],
    [{ mode: 'calibrated', threshold: 0.3, smoothing: -0.1 }, /for target\.smoothing/],
  ])('refuse %j with a coded error', (target, message) => {
    let error: unknown;
    try {
      createLoader(options({ target: target as NonNullable<LoaderOptions['target']> }));
    } catch (caught) {
      error = caught;
    }
    expect(isFkdError(error, 'E_USAGE'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});
