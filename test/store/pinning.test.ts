import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeInfo } from '../../src/check/info.js';
import { verifyStore } from '../../src/check/verify.js';
import { label } from '../../src/generate/label.js';
import { openLabels } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli } from '../helpers/cli.js';
import { sealManifest } from '../helpers/manifests.js';

/** Pinning (openLabels `sha256`, CLI --labels-sha256 / --sha256) and the format 1 opt-in. */
const V1_STORE = fileURLToPath(new URL('../fixtures/v1-store', import.meta.url));

let work: string;
let store: string;
let pin: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-pinning-'));
  store = join(work, 'labels');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: store, epochs: 1, crops: 2, topK: 2, threads: 1 });
  pin = createHash('sha256').update(await readFile(join(store, 'manifest.json'))).digest('hex');
}, 120_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('a pinned store', () => {
  it('opens with the SHA-256 of its manifest.json (what fkd info prints), in either case', async () => {
    expect((await storeInfo(store)).manifestSha256).toBe(pin);
    expect((await openLabels(store, { sha256: pin })).manifestSha256).toBe(pin);
    await expect(openLabels(store, { sha256: pin.toUpperCase() })).resolves.toBeDefined();
    expect((await verifyStore(store, { sha256: pin, data: FIXTURE_IMAGES })).ok).toBe(true);
  });

  it('refuses any other manifest, even one whose every hash is valid again, and a malformed pin', async () => {
    const edited = join(work, 'edited');
    await cp(store, edited, { recursive: true });
    const manifest = JSON.parse(await readFile(join(edited, 'manifest.json'), 'utf8')) as { sampler: { interpolation: string } };
    manifest.sampler.interpolation = manifest.sampler.interpolation === 'bicubic' ? 'bilinear' : 'bicubic';
    await writeFile(join(edited, 'manifest.json'), sealManifest(manifest));
    // Re-signed: without a pin it opens, replayed with other pixels.
    await expect(openLabels(edited)).resolves.toBeDefined();
    await expect(openLabels(edited, { sha256: pin })).rejects.toMatchObject({ code: 'E_PIN_MISMATCH', message: expect.stringMatching(/not the pinned [0-9a-f]{64}/) });
    await expect(verifyStore(edited, { sha256: pin })).rejects.toMatchObject({ code: 'E_PIN_MISMATCH' });
    await expect(openLabels(store, { sha256: 'abc' })).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});

describe('format 1 stores', () => {
  it('are refused unless allowFormat1 is given, so a store rewritten as format 1 cannot drop its checks', async () => {
    await expect(openLabels(V1_STORE)).rejects.toMatchObject({ code: 'E_FORMAT_1', message: expect.stringMatching(/format 1 label store: its manifest has no integrity hash.*allowFormat1 \(CLI --allow-format-1\)/) });
    await expect(verifyStore(V1_STORE)).rejects.toMatchObject({ code: 'E_FORMAT_1' });
    expect((await openLabels(V1_STORE, { allowFormat1: true })).manifest.version).toBe(1);
  });
});

describe('from the CLI', () => {
  it('fkd info prints the pin; verify, report and train take it, and refuse another store or format 1 without the opt-in', async () => {
    const info = await runCli(['info', store]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain(`manifest:       sha256 ${pin}`);
    expect(info.stdout).toMatch(/^format: +2$/m);
    const verified = await runCli(['verify', store, '--sha256', pin]);
    expect(verified.code, verified.stderr).toBe(0);
    const wrong = '0'.repeat(64);
    const refused = await runCli(['verify', store, '--sha256', wrong]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/error E_PIN_MISMATCH: .*manifest\.json has SHA-256 [0-9a-f]{64}, not the pinned 0{64}/);
    const train = await runCli(['train', '--data', FIXTURE_IMAGES, '--labels', store, '--labels-sha256', wrong, '--student', 'tiny', '--size', '16', '--workers', '0', '--epochs', '1']);
    expect(train.code).toBe(1);
    expect(train.stderr).toMatch(/error E_PIN_MISMATCH/);
    const report = await runCli(['report', store, '--sha256', wrong, '--json']);
    expect(report.stderr).toMatch(/error E_PIN_MISMATCH/);
    const v1 = await runCli(['verify', V1_STORE]);
    expect(v1.code).toBe(1);
    expect(v1.stderr).toMatch(/error E_FORMAT_1: .*--allow-format-1/);
    const v1Allowed = await runCli(['verify', V1_STORE, '--allow-format-1']);
    expect(v1Allowed.code, v1Allowed.stderr).toBe(0);
    const v1Info = await runCli(['info', V1_STORE]);
    expect(v1Info.stdout).toMatch(/^format: +1 \(no integrity hash: other commands read it only with --allow-format-1\)$/m);
  }, 120_000);

  it('fkd info prints control characters of store text escaped, never raw', async () => {
    const hostile = join(work, 'escape');
    await cp(store, hostile, { recursive: true });
    const manifest = JSON.parse(await readFile(join(hostile, 'manifest.json'), 'utf8')) as { teacher: { file: string; backend: string } };
    manifest.teacher.file = 'model\u001b[2J\u0007.onnx';
    manifest.teacher.backend = 'cpu\u001b]0;pwned\u0007';
    await writeFile(join(hostile, 'manifest.json'), sealManifest(manifest));
    const info = await runCli(['info', hostile]);
    expect(info.code, info.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex -- no raw control character may reach the terminal
    expect(info.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(info.stdout).toContain('teacher:        model\\x1b[2J\\x07.onnx (cpu\\x1b]0;pwned\\x07,');
  });
});
