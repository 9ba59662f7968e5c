import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { loadClassMap } from '../../src/generate/class-map-file.js';
import { label } from '../../src/generate/label.js';
import { openLabels } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, FIXTURE_SUPERSET, FIXTURE_SUPERSET_MAP, runCli } from '../helpers/cli.js';

let work: string;
const settings = { data: FIXTURE_IMAGES, epochs: 2, crops: 2, topK: 3, threads: 1 } as const;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-class-map-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('label --class-map', () => {
  it("stores the folders' classes from a teacher over more, in another order: the same labels as the teacher over the folders", async () => {
    const mapped = join(work, 'mapped');
    await label({ ...settings, teacher: FIXTURE_SUPERSET, out: mapped, classMap: FIXTURE_SUPERSET_MAP });
    await label({ ...settings, teacher: FIXTURE_ONNX, out: join(work, 'plain') });
    const a = await openLabels(mapped);
    const b = await openLabels(join(work, 'plain'));
    expect(a.manifest.teacher.classMap).toEqual({ outputs: 10, indices: [7, 2, 9, 4] });
    expect(b.manifest.teacher.classMap).toBeUndefined();
    expect(a.numClasses).toBe(4);
    for (const [s, shard] of a.manifest.shards.entries()) {
      for (let epoch = 0; epoch < 2; epoch++) {
        const mine = await a.readEpoch(shard, epoch);
        const theirs = await b.readEpoch(b.manifest.shards[s]!, epoch);
        expect(Array.from(mine.top)).toEqual(Array.from(theirs.top));
        expect(Array.from(mine.classes)).toEqual(Array.from(theirs.classes));
        // Both are the softmax of the same four logits, computed over 10 outputs or over 4.
        mine.codes.forEach((code, i) => expect(Math.abs(code - theirs.codes[i]!)).toBeLessThanOrEqual(1));
      }
    }
    const report = await verifyStore(mapped, { data: FIXTURE_IMAGES, teacher: FIXTURE_SUPERSET, sample: 16 });
    expect(report.ok, report.problems.join("; ")).toBe(true);
    expect(report.teacher?.top1Agreement).toBe(1);
  });

  it('takes a two-column text map too, and refuses to resume a store with another map', async () => {
    const text = join(work, 'map.txt');
    const json = JSON.parse(await readFile(FIXTURE_SUPERSET_MAP, 'utf8')) as Record<string, number>;
    await writeFile(text, Object.entries(json).map(([folder, index]) => `${folder} ${index}`).join('\n'));
    const out = join(work, 'text');
    await label({ ...settings, teacher: FIXTURE_SUPERSET, out, classMap: text });
    expect((await openLabels(out)).manifest.teacher.classMap?.indices).toEqual([7, 2, 9, 4]);
    await expect(label({ ...settings, teacher: FIXTURE_SUPERSET, out, classMap: { ...json, 'class-a-red': 0 } })).rejects.toMatchObject({ code: 'E_OPTIONS_MISMATCH', message: expect.stringMatching(/teacher\.classMap\.indices/) });
  });

  it('refuses a teacher over other classes without a map, naming --class-map', async () => {
    const result = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_SUPERSET, '--out', join(work, 'refused'), '--threads', '1']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/E_MODEL_SHAPE/);
    expect(result.stderr).toMatch(/outputs 10 classes but the dataset has 4 class folders.*with classMap.*\nfkd: classMap is --class-map on the command line/s);
  });

  it.each([
    ['a missing folder', { 'class-a-red': 7, 'class-b-green': 2, 'class-c-blue': 9 }, /does not map 1 of the 4 class folders: "class-d-yellow"/],
    ['a duplicate output', { 'class-a-red': 7, 'class-b-green': 7, 'class-c-blue': 9, 'class-d-yellow': 4 }, /maps both "class-a-red" and "class-b-green" to teacher output 7/],
    ['an out-of-range output', { 'class-a-red': 10, 'class-b-green': 2, 'class-c-blue': 9, 'class-d-yellow': 4 }, /the teacher has 10 outputs, so each index must be an integer in 0\.\.9/],
  ])('refuses a map with %s from the CLI with E_CLASS_MAP before writing anything', async (_name, map, message) => {
    const file = join(work, `bad-${_name.replace(/\W+/g, '-')}.json`);
    await writeFile(file, JSON.stringify(map));
    const out = join(work, `bad-out-${_name.replace(/\W+/g, '-')}`);
    const result = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_SUPERSET, '--out', out, '--class-map', file, '--threads', '1']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/E_CLASS_MAP/);
    expect(result.stderr).toMatch(message);
    await expect(readFile(join(out, 'config.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('a class map file', () => {
  it('is read with a size cap, and a device or FIFO is refused before it is read', async () => {
    const folders = ['a', 'b'];
    await expect(loadClassMap('/dev/zero', folders, 10)).rejects.toMatchObject({ code: 'E_CLASS_MAP', message: expect.stringMatching(/\/dev\/zero is a device, not a regular file/) });
    const fifo = join(work, 'map-fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(loadClassMap(fifo, folders, 10)).rejects.toMatchObject({ code: 'E_CLASS_MAP', message: expect.stringMatching(/is a FIFO, not a regular file/) });
    const huge = join(work, 'huge-map.txt');
    await writeFile(huge, 'x 1\n'.repeat(5_000_000));
    await expect(loadClassMap(huge, folders, 10)).rejects.toMatchObject({ code: 'E_CLASS_MAP', message: expect.stringMatching(/20000000 bytes, more than the 16777216/) });
  }, 10_000);
});
