import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { storeInfo } from '../../src/check/info.js';
import { verifyStore } from '../../src/check/verify.js';
import { finalizeStore } from '../../src/store/writer/finalize.js';
import { makeSyntheticStore, syntheticDataset } from '../../src/measure/synthetic-store.js';
import { openStore } from '../../src/storage/open.js';
import { openLabels } from '../../src/store/labels.js';
import { presentImages } from '../../src/store/format/columns.js';
import { sealManifest } from '../helpers/manifests.js';

// `fkd bench scale` measures a store written by this generator; these pin that it is a real,
// valid store that matches the synthetic dataset, whichever way its slices are written.
describe('synthetic scale store', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('writes, in two slices, a store that finalizes, opens, verifies and matches its dataset', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fkd-synthetic-'));
    dirs.push(dir);
    const images = 2_345;
    const options = { images, classes: 10, shardImages: 1000, epochs: 2, crops: 4, topK: 5 };
    await makeSyntheticStore(dir, { ...options, slice: { index: 1, count: 2 } });
    await makeSyntheticStore(dir, { ...options, slice: { index: 0, count: 2 } });
    await finalizeStore(await openStore(dir));
    const labels = await openLabels(dir);
    expect(labels.manifest.shards.map((s) => s.imageCount)).toEqual([1000, 1000, 345]);
    expect(labels.manifest.totals.records).toBe(images * 4 * 2);
    expect(labels.manifest.dataset.fingerprint).toBe(syntheticDataset(dir, images, 10).fingerprint);
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    const info = await storeInfo(dir);
    expect(info.records).toBe(images * 8);
    // Every record's box lies inside its (500×375) image, and its top-k classes are distinct.
    const dataset = syntheticDataset(dir, images, 10);
    const last = labels.manifest.shards[2]!;
    const imageBlock = await labels.readImages(last);
    const owners = Array.from(presentImages(imageBlock), (local) => imageBlock.imageStart + local);
    const block = await labels.readEpoch(last, 1);
    for (let r = 0; r < block.count; r++) {
      expect(dataset.images[owners[Math.floor(r / 4)]!]).toBeDefined();
      expect(block.top[r]! + block.height[r]!).toBeLessThanOrEqual(375);
      expect(block.left[r]! + block.width[r]!).toBeLessThanOrEqual(500);
      expect(new Set(block.classes.subarray(r * 5, r * 5 + 5)).size).toBe(5);
    }
  }, 300_000);

  it('verify reports a shard whose block was altered even when the file checksum was forged to match', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fkd-synthetic-'));
    dirs.push(dir);
    await makeSyntheticStore(dir, { images: 120, classes: 3, topK: 2, shardImages: 100, slice: { index: 0, count: 1 } });
    const store = await openStore(dir);
    await finalizeStore(store);
    // Flip a byte inside shard 0's second epoch block, then rewrite the manifest's whole-file
    // size and sha256 so only the per-block hash (checked by decodeShard) can catch it.
    const { sha256Hex } = await import('../../src/io/hash.js');
    const { MANIFEST_KEY } = await import('../../src/store/layout.js');
    const manifest = JSON.parse(new TextDecoder().decode(await store.get(MANIFEST_KEY)));
    const entry = manifest.shards[0];
    const bytes = new Uint8Array(await store.get(entry.key));
    const at = entry.layout.epochs[1].offset + Math.floor(entry.layout.epochs[1].length / 2);
    bytes[at] = bytes[at]! ^ 0x40;
    await store.put(entry.key, bytes);
    entry.layout.sha256 = sha256Hex(bytes);
    await store.put(MANIFEST_KEY, new TextEncoder().encode(sealManifest(manifest)));
    const report = await verifyStore(dir);
    expect(report.ok).toBe(false);
    expect(report.shards.corrupt.map((c) => c.key)).toEqual([entry.key]);
  }, 300_000);
});
