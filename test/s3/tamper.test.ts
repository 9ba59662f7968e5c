/**
 * A finalized store on S3 whose objects are changed afterwards: `fkd verify` and the loader
 * must name the altered shard, the cache must never serve bytes the manifest does not vouch
 * for, and a manifest naming keys outside the store must be refused.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { createLoader } from '../../src/loader/loader.js';
import { CachedStore } from '../../src/storage/cache.js';
import { openLabels, type LabelSet, type OpenLabelsOptions } from '../../src/store/labels.js';
import type { Manifest } from '../../src/store/manifest.js';
import { S3Store } from '../../src/storage/s3.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli } from '../helpers/cli.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { sealManifest } from '../helpers/manifests.js';

const OPTIONS = ['--epochs', '2', '--crops', '3', '--top-k', '3', '--shard-images', '6', '--threads', '1'];
const VICTIM = 'shards/000002.fkd';

let server: S3TestServer;
let work: string;
let store: S3Store;
let manifest: Manifest;
let good: Uint8Array;
const cleanups: Array<() => unknown> = [];
const location = (): string => `s3://${server.bucket}/tampered`;

async function open(options: Partial<OpenLabelsOptions> = {}): Promise<LabelSet> {
  const labels = await openLabels(location(), { s3: { endpoint: server.endpoint }, ...options });
  cleanups.push(() => {
    const opened = labels.store as { close?: () => void; inner?: { close?: () => void } };
    opened.close?.();
    opened.inner?.close?.();
  });
  return labels;
}

async function epoch(labels: LabelSet): Promise<number> {
  let crops = 0;
  for await (const batch of createLoader({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 24, size: 16, workers: 0 })) crops += batch.size;
  return crops;
}

/** Where CachedStore keeps one cached range of a key (see src/storage/cache.ts). */
function cachedRangeFile(cacheDir: string, key: string, offset: number, length: number): string {
  const directory = createHash('sha256').update(`${location()}\n${key}`).digest('hex').slice(0, 32);
  return join(cacheDir, directory, `${offset}-${length}.${length}`);
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

beforeAll(async () => {
  server = await startS3Server();
  work = await mkdtemp(join(tmpdir(), 'fkd-s3-tamper-'));
  const labelled = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', location(), '--s3-endpoint', server.endpoint, ...OPTIONS]);
  expect(labelled.code, labelled.stderr).toBe(0);
  store = new S3Store(location(), { endpoint: server.endpoint });
  manifest = JSON.parse(new TextDecoder().decode(await store.get('manifest.json'))) as Manifest;
  good = await store.get(VICTIM);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await store.put(VICTIM, good);
});

afterAll(async () => {
  store?.close();
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

/** The victim with one byte flipped inside its label epoch 0 block. */
function flipped(): Uint8Array {
  const ref = manifest.shards.find((shard) => shard.key === VICTIM)!.layout.epochs[0]!;
  const bytes = Uint8Array.from(good);
  bytes[ref.offset + Math.floor(ref.length / 2)]! ^= 0x01;
  return bytes;
}

describe('a shard object altered after finalize', () => {
  it('fkd verify exits 1 and names the key', async () => {
    await store.put(VICTIM, flipped());
    const result = await runCli(['verify', location(), '--s3-endpoint', server.endpoint]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/shards checked: 4, corrupt: 1/);
    expect(result.stdout).toContain(`${VICTIM}: Shard ${location()}/${VICTIM} is corrupt: the file hashes to`);
    expect(result.stderr).toMatch(/error E_VERIFY_FAILED/);
  });

  it('the loader fails with E_CORRUPT_SHARD naming it, and the bad bytes are not cached', async () => {
    await store.put(VICTIM, flipped());
    const error = await epoch(await open()).catch((caught: unknown) => caught);
    expect(isFkdError(error, 'E_CORRUPT_SHARD'), String(error)).toBe(true);
    expect((error as Error).message).toContain(`${location()}/${VICTIM}`);

    const cacheDir = join(work, 'cache-bad');
    const ref = manifest.shards.find((shard) => shard.key === VICTIM)!.layout.epochs[0]!;
    const cachedError = await epoch(await open({ cacheDir })).catch((caught: unknown) => caught);
    expect(isFkdError(cachedError, 'E_CORRUPT_SHARD'), String(cachedError)).toBe(true);
    expect((cachedError as Error).message).toContain(VICTIM);
    expect(await exists(cachedRangeFile(cacheDir, VICTIM, ref.offset, ref.length))).toBe(false);
  });

  it('with cacheDir, a cached copy that no longer matches the manifest is refetched, not served', async () => {
    const cacheDir = join(work, 'cache-stale');
    expect(await epoch(await open({ cacheDir }))).toBe(24 * 3);
    const ref = manifest.shards.find((shard) => shard.key === VICTIM)!.layout.epochs[0]!;
    const file = cachedRangeFile(cacheDir, VICTIM, ref.offset, ref.length);
    const cachedGood = await readFile(file);
    expect(cachedGood.equals(good.subarray(ref.offset, ref.offset + ref.length))).toBe(true);

    // Same size, other bytes: what a cache directory shared with an older run of the same
    // prefix, or a bad disk, would hold.
    const stale = Buffer.from(cachedGood);
    stale[7]! ^= 0x40;
    await writeFile(file, stale);
    const labels = await open({ cacheDir });
    expect(await epoch(labels)).toBe(24 * 3);
    const stats = (labels.store as CachedStore).stats;
    expect(stats.discarded).toBe(1);
    expect(stats.misses).toBe(1);
    expect((await readFile(file)).equals(cachedGood)).toBe(true);

    // And when the object in the bucket is bad too, the stale copy is still not served.
    await writeFile(file, stale);
    await store.put(VICTIM, flipped());
    const again = await epoch(await open({ cacheDir })).catch((caught: unknown) => caught);
    expect(isFkdError(again, 'E_CORRUPT_SHARD'), String(again)).toBe(true);
    expect(await exists(file)).toBe(false);
    expect((await readdir(join(file, '..'))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});

describe('a manifest naming keys outside the store', () => {
  it.each(['../x', '/abs', 'shards/../../x'])('is refused by openLabels with E_BAD_KEY (%s)', async (key) => {
    const prefix = `hostile-${createHash('sha1').update(key).digest('hex').slice(0, 8)}`;
    const hostile = new S3Store(`s3://${server.bucket}/${prefix}`, { endpoint: server.endpoint });
    cleanups.push(() => hostile.close());
    const edited = structuredClone(manifest);
    edited.shards[0]!.key = key;
    await hostile.put('manifest.json', new TextEncoder().encode(sealManifest(edited)));
    const error = await openLabels(`s3://${server.bucket}/${prefix}`, { s3: { endpoint: server.endpoint } }).catch((caught: unknown) => caught);
    expect(isFkdError(error, 'E_BAD_KEY'), String(error)).toBe(true);
    expect((error as Error).message).toContain(JSON.stringify(key));
  });
});
