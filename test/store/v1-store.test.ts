import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { createLoader } from '../../src/loader/loader.js';
import { openLabels } from '../../src/store/labels.js';
import { FIXTURE_IMAGES } from '../helpers/cli.js';

/** A store written by the format-1 writer (scripts/make-v1-store.js), committed before format 2 existed. */
const V1_STORE = fileURLToPath(new URL('../fixtures/v1-store', import.meta.url));

describe('a committed version 1 store', () => {
  it('is the one the v1 writer made (its manifest is pinned, so nobody regenerates it with a newer writer)', async () => {
    const manifest = await readFile(`${V1_STORE}/manifest.json`);
    expect(createHash('sha256').update(manifest).digest('hex')).toBe('8ee57527221502c159bd7a8bedd671a4375068b0a357309dff6f89c169804966');
    expect(JSON.parse(manifest.toString()).version).toBe(1);
  });

  it('passes verify, with the dataset it was made from', async () => {
    const report = await verifyStore(V1_STORE, { data: FIXTURE_IMAGES, allowFormat1: true });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.shards.checked).toBe(3);
  });

  it('opens and reads every label epoch of every shard', async () => {
    const labels = await openLabels(V1_STORE, { allowFormat1: true });
    expect(labels.manifest.totals.records).toBe(96);
    for (const shard of labels.manifest.shards) {
      const images = await labels.readImages(shard);
      for (let epoch = 0; epoch < labels.epochs; epoch++) {
        const block = await labels.readEpoch(shard, epoch);
        expect(block.count).toBe(images.imageCount * 2);
        expect(block.topK).toBe(2);
      }
    }
  });

  it('feeds the loader every stored crop, with the stored labels', async () => {
    const labels = await openLabels(V1_STORE, { allowFormat1: true });
    const delivered: string[] = [];
    for await (const batch of createLoader({ data: FIXTURE_IMAGES, labels, epoch: 1, batchSize: 16, size: 16, workers: 0, shuffle: false })) {
      for (let i = 0; i < batch.size; i++) delivered.push(`${batch.meta[i]!.imageIndex}:${batch.meta[i]!.crop}:${batch.targets.classes[i * 2]}`);
    }
    const expected: string[] = [];
    for (const shard of labels.manifest.shards) {
      const block = await labels.readEpoch(shard, 1);
      for (let r = 0; r < block.count; r++) expected.push(`${shard.imageStart + Math.floor(r / 2)}:${r % 2}:${block.classes[r * 2]}`);
    }
    expect(delivered).toEqual(expected);
  });
});
