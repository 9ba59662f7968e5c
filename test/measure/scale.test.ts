import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

// `fkd bench scale` is how the store's ImageNet-scale claims are checked; each of its steps
// runs in its own process, so a step that stops working would otherwise only show as a gap.
describe('fkd bench scale', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('times open, the epoch plan, info, verify and the empty-tree scan, each on the whole store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fkd-scale-'));
    dirs.push(dir);
    const result = await runCli(['bench', 'scale', '--images', '2500', '--dir', dir, '--writers', '1', '--tree', '--json']);
    expect(result.stderr).not.toMatch(/failed/);
    expect(result.code).toBe(0);
    const figures = JSON.parse(result.stdout);
    expect(figures).toMatchObject({ images: 2500, shards: 3, records: 2500 * 4 * 2, verifyOk: true, scan: { images: 2500 } });
    for (const key of ['openSec', 'openRssMB', 'epochPlanSec', 'epochPlanRssMB', 'infoSec', 'verifySec']) {
      expect(figures[key], key).toBeGreaterThan(0);
    }
  }, 120_000);
});
