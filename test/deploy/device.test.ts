/**
 * `--device cuda` where there is no CUDA (this machine, CI, a GPU image scheduled on a CPU
 * node): the CLI must say so and stop before touching the dataset output or the store.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGES, FIXTURE_ONNX, FIXTURE_TFJS, runCli } from '../helpers/cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-device-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('fkd label --device cuda without CUDA', () => {
  it.each([
    ['an ONNX teacher', FIXTURE_ONNX, /onnxruntime-node CUDA provider is not installed.*ONNXRUNTIME_NODE_INSTALL=cuda12.*set device to cpu\.\nfkd: device is --device on the command line/],
    ['a TF.js teacher', FIXTURE_TFJS, /tfjs-node-gpu is not available.*set device to cpu\.\nfkd: device is --device on the command line/],
  ])('exits 1 with E_DEVICE before any work (%s)', async (_, teacher, message) => {
    const out = join(work, `out-${teacher.endsWith('.onnx') ? 'onnx' : 'tfjs'}`);
    const result = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', teacher, '--out', out, '--device', 'cuda', '--shard', '3/8']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^fkd: error E_DEVICE: /m);
    expect(result.stderr).toMatch(message);
    // No store was started: not even config.json.
    await expect(readdir(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails the same way for an s3:// output, without contacting the endpoint', async () => {
    // Nothing listens on port 9: any S3 request would end in E_STORE after retries instead.
    const started = Date.now();
    const result = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', 's3://bucket/labels', '--device', 'cuda', '--s3-endpoint', 'http://127.0.0.1:9'], {
      env: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1', JOB_COMPLETION_INDEX: '5', FKD_SHARDS: '64' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error E_DEVICE: /);
    expect(result.stderr).not.toMatch(/E_STORE/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
