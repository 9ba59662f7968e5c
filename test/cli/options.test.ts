import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli } from '../helpers/cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-cli-options-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('fkd label refuses bad flags before any work', () => {
  it.each([
    [['--crops', '0x10'], /E_USAGE: Expected an integer in 1\.\.10000 for --crops but received "0x10"/],
    [['--seed', '9007199254740993'], /for --seed but received "9007199254740993"/],
    [['--seed', '1e30'], /for --seed/],
    [['--scale', '0.5,2'], /for --scale/],
    [['--std', '-1,1,1'], /for --std/],
    [['--max-pixels', '1e30'], /for --max-pixels/],
    [['--shard-images', '1e20'], /for --shard-images/],
    [['--epochs', '1e9'], /for --epochs/],
    [['--epochs', '100000', '--memory', '1024'], /One shard's records would need .* above the memory budget of 1\.0 GiB \(--memory 1024\)\. Lower --shard-images/],
    [['--threads', '100000'], /for --threads but received 100000\. At most 4 per core/],
    [['--render-threads', '100000'], /for --render-threads but received 100000\. At most 4 per core/],
    [['--render-threads', '-1'], /for --render-threads/],
    [['--crops', '1000000000'], /for --crops/],
    [['--batch', '1000000000'], /for --batch/],
    [['--size', '100000'], /for --size/],
    [['--batch', '4096', '--size', '4096', '--memory', '1024'], /The teacher batches would need 3\.0 TiB \(--batch 4096 × 4096² px × 12 B × 4 batches\)/],
    [['--shards', '0x2', '--shard', '0/2'], /for --shards/],
  ])('%j', async (flags, message) => {
    const out = join(work, `out-${flags.join('-').replace(/[^a-z0-9]/gi, '')}`);
    const started = performance.now();
    const result = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', FIXTURE_ONNX, '--out', out, ...flags]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/unexpected error/);
    expect(result.stderr).not.toMatch(/"event":"progress"/);
    expect(existsSync(out)).toBe(false);
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('refuses FKD_SHARDS that is not a plain integer', async () => {
    const result = await runCli(['finalize', join(work, 'none')], { env: { FKD_SHARDS: '0x10' } });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/E_USAGE: Expected a non-negative integer in FKD_SHARDS/);
  });
});

describe('fkd <command> --help', () => {
  it.each([['label'], ['train'], ['verify'], ['finalize'], ['pack'], ['bench', 'label'], ['bench', 'loader']])('fkd %s documents the range of every option that takes a number or a word', async (...command) => {
    const result = await runCli([...command, '--help']);
    expect(result.code).toBe(0);
    // Options are listed one per entry; join wrapped lines back to their option.
    const entries = result.stdout
      .split('\nOptions:\n')[1]!
      .split(/\n(?= {2}-)/)
      .map((entry) => entry.replace(/\s+/g, ' ').trim());
    const numeric = entries.filter((entry) => /^--[a-z-]+ <(n|k|px|x|p|t|r|rate|wd|MiB|min,max|r,g,b|kind|mode|device|name|policy)>/.test(entry));
    expect(numeric.length).toBeGreaterThan(0);
    for (const entry of numeric) expect(entry, entry).toMatch(/\[(an integer in |a number in |\d comma-separated numbers, |one of )[^\]]+\]/);
  });
});
