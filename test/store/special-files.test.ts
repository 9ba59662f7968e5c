import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { createLoader } from '../../src/loader/loader.js';
import { openLabels } from '../../src/store/labels.js';
import { FIXTURE_IMAGES } from '../helpers/cli.js';

/**
 * A store whose shard key names a FIFO or a device: a plain open of a FIFO waits for a writer
 * forever. Every reader must refuse it (E_IO) at once instead.
 */
const V1_STORE = fileURLToPath(new URL('../fixtures/v1-store', import.meta.url));

let work: string;
let store: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-special-files-'));
  store = join(work, 'fifo-shard');
  await cp(V1_STORE, store, { recursive: true });
  await rm(join(store, 'shards', '000000.fkd'));
  execFileSync('mkfifo', [join(store, 'shards', '000000.fkd')]);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('a shard key that names a FIFO', () => {
  it('is refused by readEpoch and the loader, not waited on', async () => {
    const labels = await openLabels(store, { allowFormat1: true });
    await expect(labels.readEpoch(labels.manifest.shards[0]!, 0)).rejects.toMatchObject({ code: 'E_IO', message: expect.stringMatching(/is a FIFO, not a regular file/) });
    const loading = (async () => {
      for await (const batch of createLoader({ data: FIXTURE_IMAGES, labels: await openLabels(store, { allowFormat1: true }), epoch: 0, batchSize: 16, size: 8, workers: 0 })) expect(batch.size).toBeGreaterThan(0);
    })();
    await expect(loading).rejects.toMatchObject({ code: 'E_IO' });
  }, 10_000);

  it('is reported by verify as that shard missing or not a regular file', async () => {
    const report = await verifyStore(store, { allowFormat1: true });
    expect(report.ok).toBe(false);
    expect(report.shards.corrupt[0]).toMatchObject({ key: 'shards/000000.fkd', code: 'E_CORRUPT_SHARD', error: expect.stringMatching(/000000\.fkd is missing \(or not a regular file\)/) });
  }, 10_000);
});
