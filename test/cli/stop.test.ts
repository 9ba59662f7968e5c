import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGES, FIXTURE_ONNX, startCli } from '../helpers/cli.js';

let work: string;
let stalled: Server;
let port: number;
const sockets = new Set<Socket>();
let connections = 0;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-stop-'));
  // An S3 endpoint that accepts connections and never answers: a read that never returns.
  stalled = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  port = (stalled.address() as { port: number }).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => stalled.close(resolve));
  await rm(work, { recursive: true, force: true });
});

const S3_ENV = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };

/** A label run whose first store request stalls, started and waited for until it is stuck there. */
async function stuckRun(env: NodeJS.ProcessEnv = {}) {
  const before = connections;
  const child = startCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', 's3://stalled/labels', '--s3-endpoint', `http://127.0.0.1:${port}`, '--threads', '1'], { env: { ...S3_ENV, ...env } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  while (connections === before) await new Promise((resolve) => setTimeout(resolve, 20));
  return { child, exited, stderr: () => stderr };
}

describe('stopping a run', () => {
  it('ends a run blocked in a read that never returns, soon after the first signal', async () => {
    const run = await stuckRun({ FKD_STOP_GRACE_MS: '1000' });
    const sent = performance.now();
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    const seconds = (performance.now() - sent) / 1000;
    expect(seconds).toBeGreaterThanOrEqual(0.9);
    expect(seconds).toBeLessThan(4);
    expect(run.stderr()).toMatch(/still running 1000 ms after SIGINT .*quitting now; finished work is kept: run fkd label again with the same options, or fkd train with --resume, to continue/);
  });

  it('ends it at once on a second signal', async () => {
    const run = await stuckRun();
    const sent = performance.now();
    run.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(130);
    // Well before the 5 s grace a single signal would get.
    expect((performance.now() - sent) / 1000).toBeLessThan(3);
    expect(run.stderr()).toMatch(/SIGTERM again, quitting now/);
  });

  it('stops a run with the largest --epochs promptly, leaving no shard half-committed', async () => {
    const out = join(work, 'huge-epochs');
    const child = startCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', out, '--epochs', '100000', '--shard-images', '2', '--threads', '1']);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    while (!/"event":"progress"/.test(stderr)) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const sent = performance.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(130);
    expect((performance.now() - sent) / 1000).toBeLessThan(4);
    expect(stderr).toMatch(/E_ABORTED/);
    // Whatever was under way: every entry names a whole shard, and no temp file is left.
    const names = await readdir(join(out, 'shards')).catch(() => [] as string[]);
    expect(names.filter((name) => name.endsWith('.tmp'))).toEqual([]);
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const entry = JSON.parse(await readFile(join(out, 'shards', name), 'utf8')) as { shard: { key: string; layout: { bytes: number } } };
      expect((await stat(join(out, entry.shard.key))).size).toBe(entry.shard.layout.bytes);
    }
  });
});
