import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli, startCli } from '../helpers/cli.js';
import { comparableManifest } from '../helpers/manifests.js';

let work: string;
let store: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-cli-'));
  store = join(work, 'labels');
  const result = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', store, '--epochs', '2', '--crops', '3', '--top-k', '3', '--shard-images', '6', '--threads', '1']);
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/labelled 24 images, 144 crops/);
  expect(result.stderr).toMatch(/teacher: onnx teacher on cpu/);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const label = (out: string, extra: string[] = []) => ['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', out, '--threads', '1', ...extra];

async function shardFiles(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(join(dir, 'shards'))).filter((n) => n.endsWith('.fkd')).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, 'shards', n))] as const)));
}

function waitForEntries(dir: string, count: number, child: ReturnType<typeof startCli>): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      void readdir(join(dir, 'shards'))
        .catch(() => [] as string[])
        .then((names) => {
          if (names.filter((n) => n.endsWith('.json')).length >= count) {
            clearInterval(timer);
            resolve();
          }
        });
    }, 5);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error('the label run ended before it could be interrupted; make it longer'));
    });
  });
}

describe('fkd CLI', () => {
  it('prints structured progress lines when stderr is not a TTY', async () => {
    const result = await runCli(label(join(work, 'progress'), ['--epochs', '1', '--crops', '1']));
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('{'));
    const last = JSON.parse(lines.at(-1)!);
    expect(last).toMatchObject({ event: 'progress', task: 'label', done: 24, total: 24, unit: 'images', crops: 24 });
    expect(last).toHaveProperty('ratePerSec');
    expect(last).toHaveProperty('etaSec');
  });

  it('takes the deprecated --target of fkd label as --rebuild, with a warning, and refuses both at once', async () => {
    const old = await runCli(label(join(work, 'target-old'), ['--epochs', '1', '--crops', '1', '--target', 'renorm']));
    expect(old.code, old.stderr).toBe(0);
    expect(old.stderr).toContain('fkd label --target is deprecated and goes in the next release; use --rebuild.');
    const renamed = await runCli(label(join(work, 'target-new'), ['--epochs', '1', '--crops', '1', '--rebuild', 'renorm']));
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(renamed.stderr).not.toContain('deprecated');
    const codec = async (name: string): Promise<unknown> => (JSON.parse(await readFile(join(work, name, 'manifest.json'), 'utf8')) as { codec: unknown }).codec;
    expect(await codec('target-old')).toEqual(await codec('target-new'));
    expect(await codec('target-new')).toMatchObject({ target: 'renorm' });
    const both = await runCli(label(join(work, 'target-both'), ['--target', 'renorm', '--rebuild', 'renorm']));
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('Pass --rebuild only');
  });

  it('info reports the store', async () => {
    const result = await runCli(['info', store, '--json']);
    expect(result.code).toBe(0);
    const info = JSON.parse(result.stdout);
    expect(info).toMatchObject({ complete: true, images: 24, records: 144, epochs: 2, crops: 3, topK: 3, classes: 4, skipped: [] });
    expect(info.teacher).toMatchObject({ file: 'tiny.onnx', engine: 'onnx', inputSize: 64 });
    expect(info.bytesPerRecord).toBeCloseTo(info.totalBytes / 144, 6);
    expect(info.teacherConfidence.records).toBe(144);
    expect(info.teacherConfidence.below.map((b: { threshold: number }) => b.threshold)).toEqual([0.1, 0.3, 0.5]);
    const text = await runCli(['info', store]);
    expect(text.stdout).toMatch(/bytes\/record:/);
  });

  it('verify re-runs the teacher and finds the stored labels within the codec bounds', async () => {
    const result = await runCli(['verify', store, '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--sample', '50', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(true);
    expect(report.teacher).toMatchObject({ sampled: 50, top1Agreement: 1, sameFile: true });
    expect(report.teacher.maxRelativeError).toBeLessThan(0.01);
    expect(report.teacher.meanKl).toBeLessThan(0.01);
  });

  it('verify catches one flipped byte and names the shard', async () => {
    const copy = join(work, 'flipped');
    await cp(store, copy, { recursive: true });
    const victim = join(copy, 'shards', '000002.fkd');
    const bytes = await readFile(victim);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(victim, bytes);
    const result = await runCli(['verify', copy]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/shards\/000002\.fkd/);
    expect(result.stderr).toMatch(/error E_VERIFY_FAILED/);
  });

  it('verify notices a different dataset tree', async () => {
    const data = join(work, 'other-data');
    await cp(FIXTURE_IMAGES, data, { recursive: true });
    await writeFile(join(data, 'class-a-red', 'extra.jpg'), await readFile(join(data, 'class-a-red', 'img-0.jpg')));
    const result = await runCli(['verify', store, '--data', data, '--json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).dataset.fingerprintMatches).toBe(false);
  });

  it('resumes after SIGKILL with nothing lost or duplicated', async () => {
    const killed = join(work, 'killed');
    const long = ['--epochs', '30', '--crops', '4', '--shard-images', '2'];
    const child = startCli(label(killed, long));
    await waitForEntries(killed, 2, child);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('close', resolve));
    const before = (await readdir(join(killed, 'shards'))).filter((n) => n.endsWith('.json')).length;
    expect(before).toBeLessThan(12);
    await expect(readFile(join(killed, 'manifest.json'))).rejects.toThrow();
    const resumed = await runCli(label(killed, [...long, '--json']));
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout);
    expect(summary.shardsReused).toBeGreaterThanOrEqual(before - 1);
    expect(summary.shardsReused + summary.shardsWritten).toBe(12);
    expect(summary.decodesPerImage).toBe(1);
    const clean = join(work, 'clean');
    expect((await runCli(label(clean, long))).code).toBe(0);
    const a = await shardFiles(killed);
    const b = await shardFiles(clean);
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [name, bytes] of b) expect(a.get(name)!.equals(bytes), name).toBe(true);
    const manifest = (dir: string) => readFile(join(dir, 'manifest.json'), 'utf8').then(comparableManifest);
    expect(await manifest(killed)).toEqual(await manifest(clean));
  });

  it('stops at a shard boundary on Ctrl-C and exits 130', async () => {
    const out = join(work, 'interrupted');
    const child = startCli(label(out, ['--epochs', '30', '--crops', '4', '--shard-images', '2']));
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    await waitForEntries(out, 1, child);
    child.kill('SIGINT');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    expect(stderr).toMatch(/stopping \(SIGINT\): finished shards are kept/);
    expect(stderr).toMatch(/E_ABORTED/);
    const names = await readdir(join(out, 'shards'));
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('gives usage errors exit code 2 and failures a code and exit 1', async () => {
    const missing = await runCli(['label', '--teacher', FIXTURE_ONNX, '--out', join(work, 'x')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--data/);
    const badK = await runCli(label(join(work, 'y'), ['--top-k', '0']));
    expect(badK.code).toBe(2);
    expect(badK.stderr).toMatch(/E_USAGE: Expected an integer in 1\.\.65536 for --top-k/);
    const badModel = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', join(FIXTURE_IMAGES, 'class-a-red', 'img-0.jpg'), '--out', join(work, 'z')]);
    expect(badModel.code).toBe(1);
    expect(badModel.stderr).toMatch(/error E_MODEL_LOAD: .*img-0\.jpg/);
    const noStore = await runCli(['info', join(work, 'nothing-here')]);
    expect(noStore.code).toBe(1);
    expect(noStore.stderr).toMatch(/error E_\w+/);
  });

  it('says a store that does not exist does not exist, rather than "has not finished"', async () => {
    const missing = join(work, 'no-such-store');
    for (const command of [['verify', missing], ['info', missing], ['finalize', missing]]) {
      const result = await runCli(command);
      expect(result.code, command[0]).toBe(1);
      expect(result.stderr).toMatch(/error E_IO: .*no-such-store does not exist, so there is no label store there/);
      expect(result.stderr).not.toMatch(/has not finished/);
    }
  });

  it('exits non-zero, without "store complete", when no image of the tree could be labelled', async () => {
    const data = join(work, 'all-unreadable');
    for (const name of ['a', 'b', 'c', 'd']) {
      await mkdir(join(data, name), { recursive: true });
      await writeFile(join(data, name, 'x.jpg'), 'version https://git-lfs.github.com/spec/v1\n');
    }
    const result = await runCli(['label', '--data', data, '--teacher', FIXTURE_ONNX, '--out', join(work, 'all-unreadable-out'), '--threads', '1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error E_TOO_FEW_IMAGES: Only 0 of 4 images could be labelled, fewer than minImages 1.*\nfkd: minImages is --min-images on the command line\n/s);
    expect(result.stdout).not.toMatch(/store complete/);
  });

  it('has complete help for every command', async () => {
    for (const command of ['label', 'info', 'verify', 'finalize', 'train', 'serve']) {
      const result = await runCli([command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`Usage: fkd ${command}`));
    }
  });
});

describe('fkd label output', () => {
  it('prints file names with control characters escaped, never raw', async () => {
    const data = join(work, 'escape-data');
    await cp(FIXTURE_IMAGES, data, { recursive: true });
    const [first] = await readdir(data);
    await writeFile(join(data, first!, 'esc\u001b[2Jname\u0007.jpg'), 'not an image');
    const result = await runCli(['label', '--data', data, '--teacher', FIXTURE_ONNX, '--out', join(work, 'escape-labels'), '--epochs', '1', '--crops', '1', '--threads', '1']);
    expect(result.code, result.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex -- no raw control character may reach the terminal
    expect(result.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(result.stdout).toContain(`${first}/esc\\x1b[2Jname\\x07.jpg: a name with a control character`);
  }, 60_000);
});
