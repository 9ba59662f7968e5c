import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { label } from '../../src/generate/label.js';
import type { Batch } from '../../src/loader/batch.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { pack, type PackResult } from '../../src/webdataset/pack.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';
import { comparableManifest } from '../helpers/manifests.js';
import { startFaultyProxy } from '../helpers/faulty-proxy.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';

const LABEL = { teacher: FIXTURE_ONNX, epochs: 2, crops: 3, topK: 3, shardImages: 7, threads: 1 } as const;
let work: string;
let shards: string;
let packed: PackResult;
let fromFolder: LabelSet;
let fromShards: LabelSet;
let server: S3TestServer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-wds-'));
  shards = join(work, 'wds');
  packed = await pack({ data: FIXTURE_IMAGES, out: shards, shardMiB: 1 / 64 });
  await label({ ...LABEL, data: FIXTURE_IMAGES, out: join(work, 'from-folder') });
  fromFolder = await openLabels(join(work, 'from-folder'));
  await label({ ...LABEL, data: shards, out: join(work, 'from-shards') });
  fromShards = await openLabels(join(work, 'from-shards'));
  server = await startS3Server();
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Every file of a directory tree, by relative path, as a SHA-256. */
async function treeDigests(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[relative(root, path)] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return out;
}

/** One epoch's batches as digests of their pixels, targets and provenance. */
async function epochDigest(options: Omit<LoaderOptions, 'batchSize'>): Promise<string[]> {
  const digests: string[] = [];
  for await (const batch of createLoader({ batchSize: 8, size: 32, ...options, copy: true }) as AsyncIterable<Batch>) {
    const hash = createHash('sha256');
    hash.update(new Uint8Array(batch.images.buffer, batch.images.byteOffset, batch.images.byteLength));
    hash.update(new Uint8Array(batch.targets.classes.buffer, batch.targets.classes.byteOffset, batch.targets.classes.byteLength));
    hash.update(new Uint8Array(batch.targets.probs.buffer, batch.targets.probs.byteOffset, batch.targets.probs.byteLength));
    hash.update(JSON.stringify(batch.meta));
    digests.push(hash.digest('hex'));
  }
  return digests;
}

describe('a label store made from a folder works with its packed shards, and the reverse', () => {
  it('labelling the shards writes the same store as labelling the folder: the same shard bytes, the same manifest but for its creation time', async () => {
    const [a, b] = await Promise.all([treeDigests(join(work, 'from-folder')), treeDigests(join(work, 'from-shards'))]);
    expect(Object.keys(a).length).toBeGreaterThan(3);
    expect({ ...b, 'manifest.json': null }).toEqual({ ...a, 'manifest.json': null });
    const [ma, mb] = await Promise.all([readFile(join(work, 'from-folder', 'manifest.json')), readFile(join(work, 'from-shards', 'manifest.json'))]);
    expect(comparableManifest(mb)).toEqual(comparableManifest(ma));
  }, 120_000);

  it('the loader gives byte-identical batches from the shards and from the folder, on this thread and on render threads, in order and shuffled', async () => {
    for (const extra of [{ workers: 0, shuffle: false }, { workers: 2, shuffle: 7 }, { workers: 0, epoch: 1, shuffle: 3 }] as const) {
      const folder = await epochDigest({ data: FIXTURE_IMAGES, labels: fromFolder, epoch: 0, ...extra });
      expect(folder.length).toBeGreaterThan(5);
      expect(await epochDigest({ data: shards, labels: fromFolder, epoch: 0, ...extra }), JSON.stringify(extra)).toEqual(folder);
      // The reverse: the store labelled from the shards, trained from the folder.
      expect(await epochDigest({ data: FIXTURE_IMAGES, labels: fromShards, epoch: 0, ...extra }), JSON.stringify(extra)).toEqual(folder);
    }
  }, 120_000);

  it('verify checks a store against the shards: fingerprint, every content hash, and the teacher re-run', async () => {
    const report = await verifyStore(join(work, 'from-folder'), { data: shards, teacher: FIXTURE_ONNX, sample: 12 });
    expect(report.problems).toEqual([]);
    expect(report.dataset).toMatchObject({ fingerprintMatches: true, content: { checked: 24, changed: [] }, shards: { checked: packed.shards, problems: [] } });
    expect(report.teacher?.sampled).toBe(12);
    expect(report.teacher?.top1Agreement).toBe(1);
  }, 60_000);

  it('two ranks of a shard set see disjoint images that cover the epoch', async () => {
    const seen: string[][] = [];
    for (const rank of [0, 1]) {
      const paths: string[] = [];
      for await (const batch of createLoader({ data: shards, labels: fromFolder, epoch: 0, batchSize: 3, size: 16, workers: 0, rank, worldSize: 2, copy: true })) for (const meta of batch.meta) paths.push(meta.path);
      seen.push([...new Set(paths)]);
    }
    expect(seen[0]!.filter((path) => seen[1]!.includes(path))).toEqual([]);
    expect([...seen[0]!, ...seen[1]!].sort()).toEqual(packed.index.shards.flatMap((shard) => shard.paths).sort());
  }, 60_000);

  it('names the shards by a brace pattern or a list file as well as by their folder', async () => {
    const folder = await epochDigest({ data: shards, labels: fromFolder, epoch: 0, workers: 0 });
    const last = String(packed.shards - 1).padStart(6, '0');
    expect(await epochDigest({ data: join(shards, `shard-{000000..${last}}.tar`), labels: fromFolder, epoch: 0, workers: 0 })).toEqual(folder);
    const list = join(work, 'shards.txt');
    await writeFile(list, `# the packed set\n${packed.index.shards.map((shard) => `wds/${shard.name}`).join('\n')}\n`);
    expect(await epochDigest({ data: list, labels: fromFolder, epoch: 0, workers: 0 })).toEqual(folder);
  }, 60_000);

  it('reads shards packed straight to S3 by ranged reads, with the same batches', async () => {
    const location = `s3://${server.bucket}/imagenet-wds`;
    const store = { s3: { endpoint: server.endpoint } };
    const onS3 = await pack({ data: FIXTURE_IMAGES, out: location, shardMiB: 1 / 64, store });
    expect(onS3.index).toEqual(packed.index);
    const local = await epochDigest({ data: shards, labels: fromFolder, epoch: 0, workers: 2, shuffle: 1 });
    expect(await epochDigest({ data: location, labels: fromFolder, epoch: 0, workers: 2, shuffle: 1, store })).toEqual(local);
    // Connections dropped, answers cut off mid-body and 503s on a third of the requests: every
    // image is one ranged read, re-issued whole by the driver, so nothing is lost or duplicated.
    const proxy = await startFaultyProxy({ target: server.endpoint, rate: 0.3, seed: 21, faults: ['drop', 'truncate', 'error503'], maxConsecutive: 3 });
    try {
      const flaky = { s3: { endpoint: proxy.endpoint, maxAttempts: 6, requestTimeoutMs: 2_000, connectionTimeoutMs: 1_000 } };
      expect(await epochDigest({ data: location, labels: fromFolder, epoch: 0, workers: 2, shuffle: 1, store: flaky })).toEqual(local);
      for (const fault of ['drop', 'truncate', 'error503'] as const) expect(proxy.counts[fault], fault).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
    }
  }, 120_000);
});
