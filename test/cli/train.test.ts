import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { label } from '../../src/generate/label.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, FIXTURE_SUPERSET, FIXTURE_SUPERSET_MAP, runCli } from '../helpers/cli.js';

let work: string;
let store: string;
let mapped: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-train-recipes-'));
  store = join(work, 'labels');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: store, epochs: 2, crops: 4, topK: 3, threads: 1 });
  mapped = join(work, 'mapped');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_SUPERSET, classMap: FIXTURE_SUPERSET_MAP, out: mapped, epochs: 2, crops: 4, topK: 3, threads: 1 });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const train = ['train', '--data', FIXTURE_IMAGES, '--student', 'tiny', '--size', '16', '--batch-size', '16', '--lr', '0.02', '--workers', '0', '--epochs', '6'];

describe('fkd train recipes', () => {
  it.each([
    ['CutMix', ['--mix', 'cutmix', '--mix-alpha', '1']],
    ['Mixup on half the crops', ['--mix', 'mixup', '--mix-alpha', '0.8', '--mix-prob', '0.5']],
    ['calibrated targets', ['--target', 'calibrated', '--calibrate-threshold', '0.3', '--smoothing', '0.1']],
    ['labels from a class-mapped teacher (fkd label --class-map)', ['--mix', 'cutmix']],
  ])('trains with %s and its loss falls', async (name, flags) => {
    const result = await runCli([...train, '--labels', name.includes('class-map') ? mapped : store, ...flags]);
    expect(result.code, result.stderr).toBe(0);
    const losses = [...result.stdout.matchAll(/^epoch \d+: loss ([\d.]+)/gm)].map((match) => Number(match[1]));
    expect(losses).toHaveLength(6);
    expect(losses.at(-1)!).toBeLessThan(0.9 * losses[0]!);
  });

  it('exits non-zero with E_DIVERGED at the first non-finite loss, and refuses a --checkpoint that is a file', async () => {
    const diverged = await runCli([...train, '--labels', store, '--epochs', '1', '--lr', '1e308']);
    expect(diverged.code).toBe(1);
    expect(diverged.stderr).toMatch(/error E_DIVERGED: The loss became (NaN|Infinity)/);
    expect(diverged.stdout).not.toMatch(/final loss/);
    const file = join(work, 'checkpoint-file');
    await writeFile(file, 'x');
    const refused = await runCli([...train, '--labels', store, '--epochs', '1', '--checkpoint', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/error E_USAGE: The checkpoint folder .* exists and is not a folder/);
    expect(refused.stderr).not.toMatch(/unexpected error/);
  });

  it('shows the recipe flags with their ranges in --help, and refuses a calibrated target without a threshold', async () => {
    const help = await runCli(['train', '--help']);
    help.stdout = help.stdout.replace(/\s+/g, ' ');
    expect(help.stdout).toMatch(/--mix <mode>.*?\[one of mixup, cutmix, both\]/);
    expect(help.stdout).toMatch(/--mix-alpha <a>.*?\[a number in \(0, 100\]\]/);
    expect(help.stdout).toMatch(/--mix-prob <p>.*?\[a number in \[0, 1\]\]/);
    expect(help.stdout).toMatch(/--calibrate-threshold <p>.*?\[a number in \[0, 1\]\]/);
    expect(help.stdout).toMatch(/--smoothing <e>.*?\[a number in \[0, 1\]\]/);
    const refused = await runCli([...train, '--labels', store, '--target', 'calibrated']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--target calibrated needs --calibrate-threshold/);
    const badAlpha = await runCli([...train, '--labels', store, '--mix', 'cutmix', '--mix-alpha', '0']);
    expect(badAlpha.code).toBe(2);
    expect(badAlpha.stderr).toMatch(/for --mix-alpha but received "?0"?/);
  });

  it.each([
    [['--mix-alpha', '1'], /--mix-alpha needs --mix \(mixup, cutmix or both\)/],
    [['--mix-prob', '0.5'], /--mix-prob needs --mix/],
    [['--smoothing', '0.1'], /--smoothing needs --target \(calibrated\)/],
    [['--calibrate-threshold', '0.2'], /--calibrate-threshold needs --target/],
    [['--teacher-weights', '1,2'], /--teacher-weights needs --with-labels/],
  ])('refuses %j without the setting it tunes instead of ignoring it', async (extra, rule) => {
    const refused = await runCli([...train, '--labels', store, ...extra]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(rule);
  });
});
