import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { Unpackr } from 'msgpackr';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { label } from '../../src/generate/label.js';
import { denseTarget } from '../../src/labels/codec.js';
import { createLoader } from '../../src/loader/loader.js';
import { verifyStore } from '../../src/check/verify.js';
import { cropsDigest } from '../../src/store/boxes-from.js';
import { openEnsemble } from '../../src/store/ensemble.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, FIXTURE_TFJS, runCli } from '../helpers/cli.js';
import { rejectionCode } from '../helpers/errors.js';
import { sealManifest } from '../helpers/manifests.js';

let work: string;
let a: string;
let b: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-ensemble-'));
  a = join(work, 'onnx');
  b = join(work, 'tfjs-like');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: a, epochs: 2, crops: 3, topK: 2, seed: 7, shardImages: 10, threads: 1 });
  // Defaults would say 1 epoch, 4 crops, seed 0, 1000 images per shard: --like takes A's.
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_TFJS, out: b, like: a, topK: 3, threads: 1 });
}, 120_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function records(labels: LabelSet) {
  const out: Array<{ box: number[]; classes: number[] }> = [];
  for (const shard of labels.manifest.shards) {
    for (let e = 0; e < labels.epochs; e++) {
      const block = await labels.readEpoch(shard, e);
      for (let r = 0; r < block.count; r++) out.push({ box: [block.top[r]!, block.left[r]!, block.height[r]!, block.width[r]!, block.flip[r]!], classes: [...block.classes.subarray(r * block.topK, (r + 1) * block.topK)] });
    }
  }
  return out;
}

describe('fkd label --like', () => {
  it("labels exactly the other store's boxes and flips with another teacher, taking its sampler settings and shard size", async () => {
    const [first, second] = [await openLabels(a), await openLabels(b)];
    expect(second.manifest.sampler).toEqual(first.manifest.sampler);
    expect(second.manifest.shardImages).toBe(10);
    expect(second.manifest.teacher.engine).toBe('tfjs');
    expect(second.manifest.codec.topK).toBe(3);
    const [mine, theirs] = [await records(first), await records(second)];
    expect(theirs.length).toBe(24 * 3 * 2);
    expect(theirs.map((r) => r.box)).toEqual(mine.map((r) => r.box));
  });

  it('refuses a crop setting that contradicts the store, and a different dataset', async () => {
    const out = join(work, 'refused');
    await expect(label({ data: FIXTURE_IMAGES, teacher: FIXTURE_TFJS, out, like: a, crops: 4 })).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/crops 4 differs from the store given to like \(3\)/) });
    const fewer = join(work, 'fewer-images');
    await cp(FIXTURE_IMAGES, fewer, { recursive: true });
    await unlink(join(fewer, 'class-a-red', 'img-0.jpg'));
    const cli = await runCli(['label', '--data', fewer, '--teacher', FIXTURE_TFJS, '--out', out, '--like', a]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/E_DATASET_MISMATCH.*is not the dataset .* was labelled from/);
  });
});

describe('a --like store (boxes-from)', () => {
  it('stores labels only, names its base and the digest of its blocks, and still reads back every box', async () => {
    const [first, second] = [await openLabels(a), await openLabels(b)];
    expect(second.manifest.requires).toEqual(['boxes-from']);
    expect(second.manifest.boxesFrom).toEqual({ store: first.location, digest: cropsDigest(first.manifest) });
    const shard = second.manifest.shards[0]!;
    const block = await readFile(join(b, shard.key));
    const ref = shard.layout.epochs[0]!;
    expect((new Unpackr({ mapsAsObjects: true }).unpack(block.subarray(ref.offset, ref.offset + ref.length)) as { kind: string }).kind).toBe('labels');
    // The boxes are not stored twice: per record, only classes and codes (here top-3 against top-2).
    const perRecord = (m: typeof first.manifest) => m.shards.reduce((sum, s) => sum + s.layout.epochs.reduce((t, e) => t + e.length, 0), 0) / m.totals.records;
    expect(perRecord(second.manifest)).toBeLessThan(perRecord(first.manifest));
    expect((await verifyStore(b)).ok).toBe(true);
  });

  it('refuses a base that is not the store it was made on, and opens a moved base given as boxes', async () => {
    const other = join(work, 'other-base');
    await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: other, epochs: 2, crops: 3, topK: 2, seed: 9, shardImages: 10, threads: 1 });
    await expect(openLabels(b, { boxes: other })).rejects.toMatchObject({ code: 'E_OPTIONS_MISMATCH', message: expect.stringMatching(/relabelled or replaced since/) });
    const moved = join(work, 'moved-base');
    await cp(a, moved, { recursive: true });
    const copy = join(work, 'like-copy');
    await cp(b, copy, { recursive: true });
    // As if the base had moved: the recorded location no longer opens.
    const manifest = JSON.parse(await readFile(join(copy, 'manifest.json'), 'utf8')) as { boxesFrom: { store: string } };
    manifest.boxesFrom.store = join(work, 'where-it-was');
    await writeFile(join(copy, 'manifest.json'), sealManifest(manifest));
    await expect(openLabels(copy)).rejects.toMatchObject({ code: 'E_IO', message: expect.stringMatching(/takes its boxes from .*where-it-was.*does not exist.*If it moved, pass its new location/) });
    const reopened = await openLabels(copy, { boxes: moved });
    expect((await records(reopened)).map((r) => r.box)).toEqual((await records(await openLabels(a))).map((r) => r.box));
  });
});

describe('openEnsemble', () => {
  it("feeds the loader the weighted mean of the teachers' distributions, crop by crop", async () => {
    const [first, second] = [await openLabels(a), await openLabels(b)];
    const mean = await openEnsemble([a, b], { weights: [3, 1] });
    expect(mean.teachers.map((t) => t.engine)).toEqual(['onnx', 'tfjs']);
    const loaderOf = (labels: LabelSet) => createLoader({ data: FIXTURE_IMAGES, labels, epoch: 1, batchSize: 12, size: 16, workers: 0, shuffle: 3, copy: true });
    const C = 4;
    const dense = async (labels: LabelSet) => {
      const out: number[][] = [];
      for await (const batch of loaderOf(labels)) {
        const d = batch.targets.dense();
        for (let i = 0; i < batch.size; i++) out.push([...d.subarray(i * C, (i + 1) * C)]);
      }
      return out;
    };
    const [da, db, dm] = [await dense(first), await dense(second), await dense(mean)];
    expect(dm).toHaveLength(72);
    dm.forEach((row, i) => row.forEach((v, c) => expect(v).toBeCloseTo(0.75 * da[i]![c]! + 0.25 * db[i]![c]!, 5)));
    // The top-k form says the same: the mean names every class here (2 + 3 ≥ 4).
    for await (const batch of loaderOf(mean)) {
      expect(batch.targets.topK).toBe(4);
      const rebuilt = denseTarget(batch.targets.classes, batch.targets.probs, C, 'marginal', new Float32Array(batch.size * C));
      expect([...rebuilt]).toEqual([...batch.targets.dense()]);
      break;
    }
  });

  it("reads the base's blocks once when the base is a member, and merges each block once per epoch", async () => {
    const mean = await openEnsemble([a, b]);
    const [base, like] = mean.members as [LabelSet, LabelSet];
    expect(like.boxes).toBe(base);
    const reads = { base: 0, like: 0 };
    const count = (set: LabelSet, name: keyof typeof reads) => {
      const read = set.readEpoch.bind(set);
      set.readEpoch = (shard, epoch) => (reads[name]++, read(shard, epoch));
    };
    count(base, 'base');
    count(like, 'like');
    const shard = mean.manifest.shards[0]!;
    const [once, again] = [await mean.readEpoch(shard, 1), await mean.readEpoch(shard, 1)];
    expect(again).toBe(once);
    // The like member asks its base for the boxes: the same set, whose block is cached.
    expect(reads).toEqual({ base: 2, like: 1 });
    const alone = await openLabels(a);
    expect([...once.top]).toEqual([...(await alone.readEpoch(alone.manifest.shards[0]!, 1)).top]);
    // A prefetched epoch is merged ahead: reading it later merges nothing more.
    mean.prefetchEpoch(0);
    const ahead = await mean.readEpoch(shard, 0);
    expect(await mean.readEpoch(shard, 0)).toBe(ahead);
  });

  it('refuses stores whose crops differ, naming the setting, and bad weights', async () => {
    const other = join(work, 'other-seed');
    await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: other, epochs: 2, crops: 3, topK: 2, seed: 8, shardImages: 10, threads: 1 });
    await expect(openEnsemble([a, other])).rejects.toMatchObject({ code: 'E_OPTIONS_MISMATCH', message: expect.stringMatching(/sampler\.seed: 7 → 8[\s\S]*fkd label --like/) });
    expect(await rejectionCode(() => openEnsemble([a, b], { weights: [1, -1] }))).toBe('E_USAGE');
    expect(await rejectionCode(() => openEnsemble([a]))).toBe('E_USAGE');
  });

  it('normalises weights near the float maximum instead of dividing by an infinite sum', async () => {
    expect((await openEnsemble([a, b], { weights: [1e308, 1e308] })).weights).toEqual([0.5, 0.5]);
    expect((await openEnsemble([a, b], { weights: [1.5e308, 0.5e308] })).weights).toEqual([0.75, 0.25]);
  });

  it('is what fkd train --with-labels trains on, and fkd info lists the teachers of the same crops', async () => {
    const train = await runCli(['train', '--data', FIXTURE_IMAGES, '--labels', a, '--with-labels', b, '--teacher-weights', '0.5,0.5', '--student', 'tiny', '--size', '16', '--batch-size', '16', '--lr', '0.02', '--workers', '0', '--epochs', '6']);
    expect(train.code, train.stderr).toBe(0);
    const losses = [...train.stdout.matchAll(/^epoch \d+: loss ([\d.]+)/gm)].map((match) => Number(match[1]));
    expect(losses).toHaveLength(6);
    expect(losses.at(-1)!).toBeLessThan(0.9 * losses[0]!);
    const info = await runCli(['info', a, b]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/same crops: +yes \(2 teachers: tiny\.onnx, model\.json\)/);
  }, 120_000);
});
