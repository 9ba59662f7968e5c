/**
 * `fkd label --out s3://…` end to end, through the built CLI against a real S3 server: the
 * objects it writes, `info`/`verify` on the URL, and that credentials never leak.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../src/storage/s3.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli, type CliResult } from '../helpers/cli.js';
import { startKeyedS3Server, type KeyedS3Server } from './keyed-s3-server.js';
import { comparableManifest } from '../helpers/manifests.js';

const OPTIONS = ['--epochs', '2', '--crops', '3', '--top-k', '3', '--shard-images', '5', '--threads', '1'];

let server: KeyedS3Server;
let work: string;
let local: string;
const url = (prefix: string): string => `s3://${server.bucket}/${prefix}`;
/** Every CLI run of this file, so the credential check sees all of their output. */
const outputs: CliResult[] = [];
const stores: S3Store[] = [];

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const result = await runCli(args, { env: { ...server.env, AWS_ENDPOINT_URL: '', AWS_ENDPOINT_URL_S3: '', ...env } });
  outputs.push(result);
  return result;
}

function s3(prefix: string): S3Store {
  const store = new S3Store(url(prefix), { endpoint: server.endpoint });
  stores.push(store);
  return store;
}

/** All objects under a prefix, by key. */
async function objects(prefix: string): Promise<Map<string, Buffer>> {
  const store = s3(prefix);
  const listed = await store.list('');
  return new Map(await Promise.all(listed.map(async ({ key }) => [key, Buffer.from(await store.get(key))] as const)));
}

async function localFiles(dir: string, sub = ''): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  for (const entry of await readdir(join(dir, sub), { withFileTypes: true })) {
    const key = sub ? `${sub}/${entry.name}` : entry.name;
    if (entry.isDirectory()) for (const [k, v] of await localFiles(dir, key)) found.set(k, v);
    else found.set(key, await readFile(join(dir, key)));
  }
  return found;
}

const withoutCreatedAt = (bytes: Buffer | undefined): unknown => comparableManifest(String(bytes));

beforeAll(async () => {
  server = await startKeyedS3Server();
  work = await mkdtemp(join(tmpdir(), 'fkd-label-s3-'));
  local = join(work, 'local');
  const result = await cli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', local, ...OPTIONS]);
  expect(result.code, result.stderr).toBe(0);
});

afterAll(async () => {
  for (const store of stores) store.close();
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('fkd label --out s3://', () => {
  it('writes the same objects as a local run (shards byte for byte), and a re-run resumes', async () => {
    const labelled = await cli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', url('runs/a'), '--s3-endpoint', server.endpoint, ...OPTIONS]);
    expect(labelled.code, labelled.stderr).toBe(0);
    expect(labelled.stdout).toMatch(/labelled 24 images, 144 crops/);
    expect(labelled.stdout).toContain(`store complete: ${url('runs/a')}`);

    const remote = await objects('runs/a');
    const disk = await localFiles(local);
    expect([...remote.keys()]).toEqual([...disk.keys()].sort());
    const shards = [...disk.keys()].filter((key) => key.endsWith('.fkd'));
    expect(shards).toHaveLength(5);
    for (const key of disk.keys()) {
      if (key === 'manifest.json') continue;
      expect(remote.get(key)?.equals(disk.get(key)!), key).toBe(true);
    }
    expect(withoutCreatedAt(remote.get('manifest.json'))).toEqual(withoutCreatedAt(disk.get('manifest.json')));

    const again = await cli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', url('runs/a'), '--s3-endpoint', server.endpoint, ...OPTIONS, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ shardsWritten: 0, shardsReused: 5, finalized: true });
    // The manifest is rewritten with the same bytes: createdAt is kept from the first run.
    expect((await objects('runs/a')).get('manifest.json')?.equals(remote.get('manifest.json')!)).toBe(true);
  });

  it('info and verify work on the s3:// URL, with AWS_ENDPOINT_URL or --s3-endpoint', async () => {
    const info = await cli(['info', url('runs/a'), '--json'], { AWS_ENDPOINT_URL: server.endpoint });
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ location: url('runs/a'), complete: true, images: 24, records: 144, epochs: 2, crops: 3, topK: 3 });
    // Not the AWS SDK's multi-line NodeVersionSupportWarning: one line of fkd's own, on Node < 22 only.
    expect(info.stderr).not.toMatch(/NodeVersionSupportWarning/);
    expect(info.stderr.match(/past end of life/g) ?? []).toHaveLength(Number(process.versions.node.split('.')[0]) < 22 ? 1 : 0);
    const report = await cli(['report', url('runs/a'), '--json'], { AWS_ENDPOINT_URL: server.endpoint });
    expect(report.code, report.stderr).toBe(0);
    expect(JSON.parse(report.stdout)).toMatchObject({ stats: { records: 144 }, info: { location: url('runs/a') } });

    const verified = await cli(['verify', url('runs/a'), '--s3-endpoint', server.endpoint, '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--sample', '20']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/shards checked: 5, corrupt: 0/);
    expect(verified.stdout).toMatch(/top-1 agreement 100\.00%/);
    expect(verified.stdout).toMatch(/^ok$/m);
  });

  it('reports a missing store by its URL', async () => {
    const missing = await cli(['info', url('runs/nothing-here')], { AWS_ENDPOINT_URL: server.endpoint });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/E_INCOMPLETE_STORE: .*s3:\/\/fkd-keyed\/runs\/nothing-here has no config\.json/);
  });

  it('never prints or stores the credentials, not even when the server rejects them', async () => {
    // An unknown key id: s3rver answers InvalidAccessKeyId and echoes the key id in its error
    // body (it does not check SigV4 signatures, so a wrong secret alone would pass).
    const wrong = { AWS_ACCESS_KEY_ID: 'AKIAWRONGKEYID4TEST0', AWS_SECRET_ACCESS_KEY: 'wrong+secret/for+the+test' };
    const denied = await cli(['info', url('runs/a'), '--verbose'], { AWS_ENDPOINT_URL: server.endpoint, ...wrong });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/E_STORE: Access to s3:\/\/fkd-keyed\/runs\/a\/manifest\.json was denied.*HTTP 403/);
    for (const secret of Object.values(wrong)) expect(denied.stdout + denied.stderr).not.toContain(secret);

    expect(outputs.length).toBeGreaterThanOrEqual(6);
    const secrets = [server.accessKeyId, server.secretAccessKey];
    for (const { stdout, stderr } of outputs) {
      for (const secret of secrets) {
        expect(stdout).not.toContain(secret);
        expect(stderr).not.toContain(secret);
      }
    }
    const stored = await objects('');
    expect([...stored.keys()]).toEqual(expect.arrayContaining(['runs/a/config.json', 'runs/a/manifest.json', 'runs/a/shards/000000.json', 'runs/a/shards/000000.fkd']));
    for (const [key, bytes] of stored) {
      for (const secret of secrets) {
        expect(bytes.includes(secret), `${key} contains a credential`).toBe(false);
        expect(bytes.includes(Buffer.from(secret).toString('base64')), `${key} contains a credential (base64)`).toBe(false);
      }
    }
  });
});
