/**
 * Labeling and loading through a proxy that breaks a share of the S3 requests (500/503
 * answers, answers slower than the request timeout, dropped connections, bodies cut off):
 * both must finish with exactly the bytes and batches of a fault-free run. At 100% faults the
 * loader must fail, naming the object.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { createLoader } from '../../src/loader/loader.js';
import { CachedStore } from '../../src/storage/cache.js';
import { openLabels, type LabelSet, type OpenLabelsOptions } from '../../src/store/labels.js';
import { S3Store } from '../../src/storage/s3.js';
import { startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli } from '../helpers/cli.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { comparableManifest } from '../helpers/manifests.js';

const OPTIONS = ['--epochs', '2', '--crops', '3', '--top-k', '3', '--shard-images', '3', '--threads', '1'];
/** Faults: at most 3 in a row, so with 6+ attempts a request that is retried always gets through. */
const FAULTY = { rate: 0.3, delayMs: 1_500, maxConsecutive: 3 };
/** A delayed answer (1.5 s) outlives this timeout: the client gives up and retries. */
const TIMEOUT_MS = 600;

let server: S3TestServer;
let work: string;
let reference: string;
const cleanups: Array<() => unknown> = [];
const url = (prefix: string): string => `s3://${server.bucket}/${prefix}`;
const direct = (prefix: string): S3Store => {
  const store = new S3Store(url(prefix), { endpoint: server.endpoint });
  cleanups.push(() => store.close());
  return store;
};

async function proxy(seed: number, overrides: { rate?: number; maxConsecutive?: number } = {}): Promise<FaultyProxy> {
  const started = await startFaultyProxy({ target: server.endpoint, ...FAULTY, seed, ...overrides });
  cleanups.push(() => started.stop());
  return started;
}

function faultCount(counts: FaultyProxy['counts']): number {
  return counts.error500 + counts.error503 + counts.delay + counts.drop + counts.truncate;
}

function record(name: string, counts: FaultyProxy['counts']): void {
  const total = faultCount(counts) + counts.ok;
  console.log(`fault matrix | ${name} | ${total} requests, ${faultCount(counts)} faulted (${((100 * faultCount(counts)) / total).toFixed(0)}%) | ${JSON.stringify(counts)}`);
}

async function open(prefix: string, options: OpenLabelsOptions): Promise<LabelSet> {
  const labels = await openLabels(url(prefix), options);
  cleanups.push(() => {
    const store = labels.store as { close?: () => void; inner?: { close?: () => void } };
    store.close?.();
    store.inner?.close?.();
  });
  return labels;
}

/** One full student epoch, reduced to a digest of every pixel, label and provenance field. */
async function epochDigest(labels: LabelSet): Promise<{ digest: string; crops: number }> {
  const hash = createHash('sha256');
  let crops = 0;
  for await (const batch of createLoader({ data: FIXTURE_IMAGES, labels, epoch: 1, batchSize: 16, size: 32, workers: 0, prefetch: 2 })) {
    hash.update(new Uint8Array(batch.images.buffer, batch.images.byteOffset, batch.images.byteLength));
    hash.update(new Uint8Array(batch.targets.classes.buffer, batch.targets.classes.byteOffset, batch.targets.classes.byteLength));
    hash.update(new Uint8Array(batch.targets.probs.buffer, batch.targets.probs.byteOffset, batch.targets.probs.byteLength));
    hash.update(JSON.stringify(batch.meta));
    crops += batch.size;
  }
  return { digest: hash.digest('hex'), crops };
}

beforeAll(async () => {
  server = await startS3Server();
  work = await mkdtemp(join(tmpdir(), 'fkd-s3-faults-'));
  reference = join(work, 'reference');
  const result = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', reference, ...OPTIONS]);
  expect(result.code, result.stderr).toBe(0);
  // The same store, uploaded without faults: the loader tests read it.
  const clean = direct('clean');
  await clean.put('config.json', await readFile(join(reference, 'config.json')));
  for (const name of await readdir(join(reference, 'shards'))) await clean.put(`shards/${name}`, await readFile(join(reference, 'shards', name)));
  await clean.put('manifest.json', await readFile(join(reference, 'manifest.json')));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Polls until a background prefetch has settled, for at most 30 s. */
async function waitFor(condition: () => boolean, describe: () => unknown = () => ''): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not reached in 30 s: ${JSON.stringify(describe())}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('S3 faults while labeling and loading', () => {
  it('fkd label --out s3:// through ~30% faults writes exactly the objects of a fault-free run', async () => {
    const faulty = await proxy(11);
    const result = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', url('labelled'), ...OPTIONS, '--s3-endpoint', faulty.endpoint], {
      env: { AWS_MAX_ATTEMPTS: '6', FKD_S3_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS), AWS_ENDPOINT_URL: '' },
    });
    record('label pass, 30%', faulty.counts);
    expect(result.code, result.stderr).toBe(0);
    expect(faultCount(faulty.counts)).toBeGreaterThanOrEqual(5);

    const store = direct('labelled');
    const listed = (await store.list('')).map((o) => o.key);
    const expected = ['config.json', 'manifest.json', ...(await readdir(join(reference, 'shards'))).map((name) => `shards/${name}`)].sort();
    expect(listed).toEqual(expected);
    for (const key of listed) {
      const got = Buffer.from(await store.get(key));
      const want = await readFile(join(reference, key));
      if (key === 'manifest.json') expect(comparableManifest(String(got))).toEqual(comparableManifest(String(want)));
      else expect(got.equals(want), key).toBe(true);
    }
  });

  it('a loader epoch through ~30% faults yields the fault-free batches, with and without cacheDir', async () => {
    const expected = await epochDigest(await open('clean', { s3: { endpoint: server.endpoint } }));
    expect(expected.crops).toBe(24 * 3);

    const faulty = await proxy(23);
    const retrying = { s3: { endpoint: faulty.endpoint, maxAttempts: 8, requestTimeoutMs: TIMEOUT_MS } };
    expect(await epochDigest(await open('clean', retrying))).toEqual(expected);
    record('loader epoch, 30%, no cache', { ...faulty.counts });
    const withoutCache = faultCount(faulty.counts);

    const cacheDir = join(work, 'cache');
    const cached = await open('clean', { ...retrying, cacheDir });
    expect(await epochDigest(cached)).toEqual(expected);
    const stats = (cached.store as CachedStore).stats;
    // Per shard: the image block, this epoch's block and (with more than one label epoch) the next one's, prefetched.
    const perShard = cached.epochs > 1 ? 3 : 2;
    await waitFor(() => stats.misses === 8 * perShard, () => stats);
    // Cache files are written after the read returns; let the last ones land.
    const cachedFiles = async () => (await readdir(cacheDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && !e.name.endsWith('.tmp')).length;
    for (let i = 0; i < 1500 && (await cachedFiles()) < 8 * perShard; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    // A new reader on the same cache directory is served from disk: no ranged GETs at all.
    const again = await open('clean', { ...retrying, cacheDir });
    const before = faulty.counts.ok + faultCount(faulty.counts);
    expect(await epochDigest(again)).toEqual(expected);
    await waitFor(() => (again.store as CachedStore).stats.hits === 8 * perShard, () => (again.store as CachedStore).stats);
    expect(faulty.counts.ok + faultCount(faulty.counts)).toBe(before);
    record('loader epoch, 30%, total with cacheDir passes', faulty.counts);
    expect(withoutCache).toBeGreaterThan(0);
    expect(faultCount(faulty.counts)).toBeGreaterThan(withoutCache);
  });

  it('at 100% faults the loader fails with an FkdError naming the object', async () => {
    const faulty = await proxy(5, { rate: 0, maxConsecutive: Number.POSITIVE_INFINITY });
    const labels = await open('clean', { s3: { endpoint: faulty.endpoint, maxAttempts: 3, requestTimeoutMs: TIMEOUT_MS, connectionTimeoutMs: TIMEOUT_MS } });
    faulty.rate = 1;
    const started = Date.now();
    const error = await epochDigest(labels).catch((caught: unknown) => caught);
    record('loader epoch, 100% (after opening the manifest at 0%)', faulty.counts);
    expect(isFkdError(error, 'E_STORE'), String(error)).toBe(true);
    const path = (error as { path: string }).path;
    expect(path).toMatch(new RegExp(`^s3://${server.bucket}/clean/shards/\\d{6}\\.fkd$`));
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/after 3 attempts/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
