import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { claimConfig, serializeConfig, type LabelConfig } from '../../src/store/config.js';
import type { StoreDriver } from '../../src/storage/driver.js';
import { FsStore } from '../../src/storage/fs.js';
import { CLAIMS_PREFIX } from '../../src/storage/claim.js';
import { S3Store } from '../../src/storage/s3.js';
import { CONFIG_KEY } from '../../src/store/layout.js';
import { startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';

let work: string;
let server: S3TestServer;
let conditional: FaultyProxy;
const opened: S3Store[] = [];
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-claim-'));
  server = await startS3Server();
  conditional = await startFaultyProxy({ target: server.endpoint, rate: 0, conditionalPuts: true });
});
afterAll(async () => {
  for (const store of opened) store.close();
  await conditional.stop();
  await server.stop();
  await rm(work, { recursive: true, force: true });
});

/** Only what claimConfig compares; the seed tells the two runs apart. */
const config = (seed: number) => ({ format: 'fkd-labels-config', version: 1, sampler: { seed } }) as unknown as LabelConfig;

let stores = 0;
function s3(endpoint: string): S3Store {
  const store = new S3Store(`s3://${server.bucket}/claim-${(stores += 1)}`, { endpoint });
  opened.push(store);
  return store;
}

/** Two runs with different settings claim one store at the same moment. */
async function race(store: StoreDriver): Promise<void> {
  const outcomes = await Promise.allSettled([claimConfig(store, config(1)), claimConfig(store, config(2))]);
  const won = outcomes.findIndex((outcome) => outcome.status === 'fulfilled');
  const lost = outcomes.filter((outcome) => outcome.status === 'rejected');
  expect(won).toBeGreaterThanOrEqual(0);
  expect(lost).toHaveLength(1);
  const reason = (lost[0] as PromiseRejectedResult).reason as Error;
  expect(isFkdError(reason, 'E_OPTIONS_MISMATCH'), String(reason)).toBe(true);
  expect(reason.message).toMatch(/holds labels made with other settings:\n {2}sampler\.seed: [12] → [12]/);
  // The winner's settings are stored, whole, and a later run with them is let in.
  expect(new TextDecoder().decode(await store.get(CONFIG_KEY))).toBe(serializeConfig(config(won + 1)));
  await expect(claimConfig(store, config(won + 1))).resolves.toBeUndefined();
  expect(await store.list(CLAIMS_PREFIX)).toEqual([]);
}

describe('claimConfig: one store, one set of settings', () => {
  it('lets exactly one of two racing runs claim a local store (an exclusive hard link)', async () => {
    const directory = join(work, 'fs');
    await race(new FsStore(directory));
    expect((await readdir(directory)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('lets exactly one claim an S3 store that honours If-None-Match, every time of 10', async () => {
    for (let round = 0; round < 10; round += 1) await race(s3(conditional.endpoint));
  });

  it('lets exactly one claim on s3rver, which ignores If-None-Match, every time of 10, by the claim marks alone', async () => {
    for (let round = 0; round < 10; round += 1) await race(s3(server.endpoint));
  });

  it('lets exactly one claim on s3rver when requests are delayed at random, which widens every window between the steps', async () => {
    const slow = await startFaultyProxy({ target: server.endpoint, rate: 0.4, faults: ['delay'], delayMs: 40, seed: 11 });
    try {
      for (let round = 0; round < 10; round += 1) await race(s3(slow.endpoint));
      expect(slow.counts.delay).toBeGreaterThan(0);
    } finally {
      await slow.stop();
    }
  });

  for (const status of [409, 412] as const) {
    it(`claims the store on the next round after a ${status} for a conditional write that never landed, and leaves no claim marks`, async () => {
      const proxy = await startFaultyProxy({ target: server.endpoint, rate: 0, refuseConditional: { status, count: 1 } });
      try {
        const store = s3(proxy.endpoint);
        await claimConfig(store, config(1));
        expect(proxy.refused).toBe(1);
        expect(new TextDecoder().decode(await store.get(CONFIG_KEY))).toBe(serializeConfig(config(1)));
        expect((await store.list('')).map((entry) => entry.key)).toEqual([CONFIG_KEY]);
      } finally {
        await proxy.stop();
      }
    });
  }
});
