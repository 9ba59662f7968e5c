/**
 * Label generation split over workers writing one S3 prefix, as a Kubernetes Indexed Job runs
 * it: each worker's objects, `finalize` refusing and then succeeding, byte identity with a
 * single-machine run, and a worker SIGKILLed mid-run then re-run.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../src/storage/s3.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, REPO_ROOT, runCli } from '../helpers/cli.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { spawn } from 'node:child_process';
import { comparableManifest } from '../helpers/manifests.js';

// 12 shards of 2 images, 30 label epochs: long enough per shard to kill a worker mid-run.
const OPTIONS = ['--epochs', '30', '--crops', '4', '--top-k', '3', '--shard-images', '2', '--threads', '1'];
const SHARDS = 12;
const WORKERS = 3;
const BIN = join(REPO_ROOT, 'bin', 'fkd.js');

let server: S3TestServer;
let work: string;
/** Single-machine run of the same options, on local disk. */
let reference: string;
const stores: S3Store[] = [];
const url = (prefix: string): string => `s3://${server.bucket}/${prefix}`;
const env = (): NodeJS.ProcessEnv => ({ AWS_ENDPOINT_URL: server.endpoint, JOB_COMPLETION_INDEX: '', FKD_SHARDS: '' });
const labelArgs = (prefix: string, extra: string[] = []): string[] => ['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', url(prefix), ...OPTIONS, ...extra];

function s3(prefix: string): S3Store {
  const store = new S3Store(url(prefix), { endpoint: server.endpoint });
  stores.push(store);
  return store;
}

async function keys(prefix: string): Promise<string[]> {
  return (await s3(prefix).list('')).map((object) => object.key);
}

const shardIndex = (key: string): number => Number(/^shards\/(\d+)\.(?:fkd|json)$/.exec(key)?.[1] ?? Number.NaN);
const ownedBy = (slice: number): string[] =>
  Array.from({ length: SHARDS }, (_, i) => i)
    .filter((i) => i % WORKERS === slice)
    .flatMap((i) => [`shards/${String(i).padStart(6, '0')}.fkd`, `shards/${String(i).padStart(6, '0')}.json`]);

/** Runs one worker and returns the keys it added to the prefix. */
async function worker(prefix: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const before = new Set(await keys(prefix));
  const result = await runCli(labelArgs(prefix, args), { env: { ...env(), ...extraEnv } });
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/slice \d\/3 done; run "fkd finalize/);
  return (await keys(prefix)).filter((key) => !before.has(key));
}

/** The shard objects and manifest (without createdAt) a comparison must agree on. */
async function contentOf(prefix: string): Promise<{ shards: Map<string, Buffer>; manifest: unknown }> {
  const store = s3(prefix);
  const shards = new Map<string, Buffer>();
  for (const key of await keys(prefix)) if (key.endsWith('.fkd')) shards.set(key, Buffer.from(await store.get(key)));
  const manifest = comparableManifest(await store.get('manifest.json'));
  return { shards, manifest };
}

async function referenceContent(): Promise<{ shards: Map<string, Buffer>; manifest: unknown }> {
  const shards = new Map<string, Buffer>();
  for (const name of (await readdir(join(reference, 'shards'))).sort()) {
    if (name.endsWith('.fkd')) shards.set(`shards/${name}`, await readFile(join(reference, 'shards', name)));
  }
  const manifest = comparableManifest(await readFile(join(reference, 'manifest.json'), 'utf8'));
  return { shards, manifest };
}

async function expectSameAsReference(prefix: string): Promise<void> {
  const [got, want] = await Promise.all([contentOf(prefix), referenceContent()]);
  expect([...got.shards.keys()]).toEqual([...want.shards.keys()]);
  expect(want.shards.size).toBe(SHARDS);
  for (const [key, bytes] of want.shards) expect(got.shards.get(key)?.equals(bytes), key).toBe(true);
  expect(got.manifest).toEqual(want.manifest);
}

beforeAll(async () => {
  server = await startS3Server();
  work = await mkdtemp(join(tmpdir(), 'fkd-sharded-'));
  reference = join(work, 'single');
  const single = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', reference, ...OPTIONS]);
  expect(single.code, single.stderr).toBe(0);
});

afterAll(async () => {
  for (const store of stores) store.close();
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('sharded label generation on S3', () => {
  it('3 workers write disjoint objects; finalize refuses until every slice is done, then matches a single-machine run', async () => {
    const prefix = 'sharded';
    const first = await worker(prefix, ['--shard', '0/3']);
    expect(first.sort()).toEqual(['config.json', ...ownedBy(0)].sort());

    // Worker 2 the way a Kubernetes Indexed Job starts it: no --shard, only the environment.
    const third = await worker(prefix, [], { JOB_COMPLETION_INDEX: '2', FKD_SHARDS: '3' });
    expect(third.sort()).toEqual(ownedBy(2).sort());

    const refused = await runCli(['finalize', url(prefix)], { env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/error E_MISSING_SLICES: .*4 of 12 shards are missing \(1, 4, 7, 10\)\. They belong to worker slices 1\/3: wait for those still running, re-run any that stopped, then finalize again\./);
    expect(await keys(prefix)).not.toContain('manifest.json');

    const second = await worker(prefix, ['--shard', '1/3']);
    expect(second.sort()).toEqual(ownedBy(1).sort());
    for (const [slice, added] of [first, second, third].entries()) {
      for (const key of added.filter((k) => k.startsWith('shards/'))) expect(shardIndex(key) % WORKERS, key).toBe(slice);
    }

    const finalized = await runCli(['finalize', url(prefix), '--json'], { env: env() });
    expect(finalized.code, finalized.stderr).toBe(0);
    expect(JSON.parse(finalized.stdout)).toMatchObject({ location: url(prefix), shards: SHARDS, records: 24 * 30 * 4 });
    const manifest = await s3(prefix).get('manifest.json');
    const again = await runCli(['finalize', url(prefix)], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(Buffer.from(await s3(prefix).get('manifest.json')).equals(Buffer.from(manifest))).toBe(true);

    await expectSameAsReference(prefix);
  });

  it('a worker SIGKILLed mid-run resumes its own slice; the finalized set is byte-identical to a clean run', async () => {
    const prefix = 'killed';
    const store = s3(prefix);
    // All three workers start together on an empty prefix (they race to write config.json, with
    // the same bytes); worker 0 dies mid-run while the others finish.
    const start = (slice: number) => {
      const child = spawn(process.execPath, [BIN, ...labelArgs(prefix, ['--shard', `${slice}/3`])], { cwd: REPO_ROOT, env: { ...process.env, ...env() }, stdio: 'ignore' });
      return { child, exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
    };
    const [victim, ...others] = [0, 1, 2].map(start);
    let finished = false;
    void victim!.exited.then(() => (finished = true));
    // Poll the bucket the way an operator would, and kill once worker 0 has committed a shard.
    let entries: string[] = [];
    while (!finished) {
      entries = (await store.list('shards/')).map((o) => o.key).filter((k) => k.endsWith('.json') && shardIndex(k) % WORKERS === 0);
      if (entries.length >= 1) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    victim!.child.kill('SIGKILL');
    await victim!.exited;
    expect(finished && entries.length === 0, 'the worker ended before its first shard was seen; make the run longer').toBe(false);
    expect(await Promise.all(others.map((o) => o.exited))).toEqual([0, 0]);

    const afterKill = await store.list('');
    const committed = afterKill.filter((o) => o.key.endsWith('.json') && o.key.startsWith('shards/') && shardIndex(o.key) % WORKERS === 0);
    expect(committed.length).toBeGreaterThanOrEqual(1);
    expect(committed.length, 'the worker finished its whole slice before the kill').toBeLessThan(ownedBy(0).length / 2);
    // Nothing names a missing object: no manifest yet, and every entry's shard is there, whole.
    expect(afterKill.map((o) => o.key)).not.toContain('manifest.json');
    const sizes = new Map(afterKill.map((o) => [o.key, o.size]));
    for (const { key } of committed) {
      const entry = JSON.parse(new TextDecoder().decode(await store.get(key))) as { shard: { key: string; layout: { bytes: number } } };
      expect(sizes.get(entry.shard.key), entry.shard.key).toBe(entry.shard.layout.bytes);
    }
    const survivors = afterKill.filter((o) => o.key.startsWith('shards/') && shardIndex(o.key) % WORKERS !== 0).map((o) => o.key);
    expect(survivors.sort()).toEqual([...ownedBy(1), ...ownedBy(2)].sort());

    const beforeRerun = new Set(afterKill.map((o) => o.key));
    const rerun = await runCli(labelArgs(prefix, ['--shard', '0/3', '--json']), { env: env() });
    expect(rerun.code, rerun.stderr).toBe(0);
    const summary = JSON.parse(rerun.stdout) as { shardsReused: number; shardsWritten: number };
    expect(summary.shardsReused).toBe(committed.length);
    expect(summary.shardsReused + summary.shardsWritten).toBe(SHARDS / WORKERS);
    const added = (await keys(prefix)).filter((key) => !beforeRerun.has(key));
    for (const key of added) expect(shardIndex(key) % WORKERS, key).toBe(0);
    expect(await keys(prefix)).not.toContain('manifest.json');

    const finalized = await runCli(['finalize', url(prefix)], { env: env() });
    expect(finalized.code, finalized.stderr).toBe(0);
    await expectSameAsReference(prefix);
  });
});
