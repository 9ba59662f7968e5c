import { execFileSync } from 'node:child_process';
import { cp, lstat, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { label } from '../../src/generate/label.js';
import { collectReport } from '../../src/report/collect.js';
import { writeReport } from '../../src/report/report.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli } from '../helpers/cli.js';

let work: string;
let store: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-report-'));
  store = join(work, 'labels');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: store, epochs: 2, crops: 3, topK: 3, threads: 1 });
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('fkd report', () => {
  it('reads every record once, epoch by epoch, and reports progress per block', async () => {
    const seen: number[] = [];
    const data = await collectReport(store, { onProgress: (p) => seen.push(p.records) });
    expect(data.stats.records).toBe(24 * 2 * 3);
    expect(seen.at(-1)).toBe(144);
    expect(data.stats.top1.histogram.counts.reduce((a, b) => a + b)).toBe(144);
    expect(data.stats.byScale.reduce((sum, bin) => sum + bin.records, 0)).toBe(144);
    expect(data.stats.byClass.map((c) => c.records).reduce((a, b) => a + b)).toBe(144);
    expect(data.classes).toEqual(['class-a-red', 'class-b-green', 'class-c-blue', 'class-d-yellow']);
    expect(data.sample).toEqual([]);
  });

  it('writes one self-contained page: no external reference, one PNG per sampled crop with its top-3', async () => {
    const out = join(work, 'report.html');
    const data = await writeReport(store, { out, data: FIXTURE_IMAGES, sample: 5, seed: 3 });
    const html = await readFile(out, 'utf8');
    expect(html).not.toMatch(/\b(src|href)="(https?:|\/\/)/);
    expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(5);
    expect(html.match(/<svg class="plot"/g)).toHaveLength(5);
    expect(data.sample).toHaveLength(5);
    for (const record of data.sample) expect(html).toContain(record.path);
    const again = await writeReport(store, { out: join(work, 'again.html'), data: FIXTURE_IMAGES, sample: 5, seed: 3 });
    expect(again.sample).toEqual(data.sample);
    expect(await readFile(join(work, 'again.html'), 'utf8')).toBe(html);
  });

  it('refuses a contact sheet from another dataset', async () => {
    const other = join(work, 'other');
    await cp(FIXTURE_IMAGES, other, { recursive: true });
    await rm(join(other, 'class-a-red', 'img-0.jpg'));
    await expect(writeReport(store, { out: join(work, 'x.html'), data: other, sample: 2 })).rejects.toMatchObject({ code: 'E_DATASET_MISMATCH' });
  });

  it('runs from the CLI: --json prints the statistics, and a missing --out is a usage error', async () => {
    const json = await runCli(['report', store, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ stats: { records: 144 }, codec: { topK: 3 } });
    const written = await runCli(['report', store, '--out', join(work, 'cli.html')]);
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout).toMatch(/wrote .*cli\.html: 144 records, \d+\.\d% top-1 agreement/);
    expect(written.stderr).toMatch(/"event":"progress","task":"report"/);
    const usage = await runCli(['report', store]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/E_USAGE: fkd report needs --out/);
  });

  it('never writes over an input, a file of the store, or anything but a regular file', async () => {
    const data = join(work, 'data-copy');
    await cp(FIXTURE_IMAGES, data, { recursive: true });
    const image = join(data, 'class-a-red', 'img-0.jpg');
    const protectedFiles = [join(store, 'manifest.json'), join(store, 'config.json'), join(store, 'shards', '000000.fkd'), image];
    const before = await Promise.all(protectedFiles.map((file) => readFile(file)));
    for (const out of protectedFiles) {
      await expect(writeReport(store, { out, data, sample: 1 })).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/is inside (the label store|the dataset \(--data\))/) });
    }
    expect(await Promise.all(protectedFiles.map((file) => readFile(file)))).toEqual(before);
    const folder = join(work, 'a-folder');
    await mkdir(folder);
    await expect(writeReport(store, { out: folder })).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/is a folder; it must name a regular file/) });
    const fifo = join(work, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(writeReport(store, { out: fifo })).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/is a FIFO/) });
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    const { checkOutputFile } = await import('../../src/io/output-file.js');
    await expect(checkOutputFile('/dev/full', '--out', [])).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/is a device/) });
  });

  it('from the CLI: a folder or an s3:// URL as --out is a coded usage error, and no folder named s3: appears', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'fkd-report-out-'));
    const folder = await runCli(['report', store, '--out', cwd]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toMatch(/error E_USAGE: The report \(--out, out\) ".*" is a folder/);
    expect(folder.stderr).not.toMatch(/unexpected error|EISDIR/);
    const s3 = await runCli(['report', store, '--out', 's3://bucket/report.html'], { cwd });
    expect(s3.code).toBe(2);
    expect(s3.stderr).toMatch(/error E_USAGE: .*"s3:\/\/bucket\/report\.html" is a URL/);
    expect(await readdir(cwd)).toEqual([]);
    await rm(cwd, { recursive: true, force: true });
  });
});
