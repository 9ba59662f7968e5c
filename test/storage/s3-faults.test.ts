import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { S3Store, type S3StoreOptions } from '../../src/storage/s3.js';
import { startFaultyProxy, type Fault, type FaultyProxy } from '../helpers/faulty-proxy.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { sameBytes, testBytes } from './conformance.js';

let server: S3TestServer;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startS3Server();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

afterAll(async () => {
  await server?.stop();
});

async function proxied(options: { rate: number; faults?: Fault[]; delayMs?: number; seed?: number; maxConsecutive?: number }): Promise<FaultyProxy> {
  const proxy = await startFaultyProxy({ target: server.endpoint, ...options });
  cleanups.push(() => proxy.stop());
  return proxy;
}

function store(prefix: string, endpoint: string, options: S3StoreOptions = {}): S3Store {
  const created = new S3Store(`s3://${server.bucket}/${prefix}`, { endpoint, ...options });
  cleanups.push(() => created.close());
  return created;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

describe('S3Store under injected faults', () => {
  it('with ~30% of requests failing, put/list/get/getRange of 36 objects all succeed with exact bytes', async () => {
    // At most 3 faults in a row and 6 attempts: a sequential run cannot exhaust the retries,
    // and the concurrent reads below would need 6 faults against one request to fail.
    const proxy = await proxied({ rate: 0.3, seed: 20240601, delayMs: 1_500, maxConsecutive: 3 });
    const flaky = store('faults-30', proxy.endpoint, { maxAttempts: 6, requestTimeoutMs: 500, connectionTimeoutMs: 1_000 });
    const objects = Array.from({ length: 36 }, (_, index) => ({ key: `objects/${String(index).padStart(2, '0')}`, data: testBytes(1 + index * 557, index + 1) }));

    for (const { key, data } of objects) await flaky.put(key, data);
    expect(await flaky.list('objects/')).toEqual(objects.map(({ key, data }) => ({ key, size: data.length })));
    await eachLimited(objects, 4, async ({ key, data }) => {
      expect(sameBytes(await flaky.get(key), data)).toBe(true);
    });
    await eachLimited(objects, 4, async ({ key, data }) => {
      const offset = Math.floor(data.length / 3);
      const length = Math.max(1, Math.floor(data.length / 2) - offset);
      expect(sameBytes(await flaky.getRange(key, offset, length), data.subarray(offset, offset + length))).toBe(true);
    });

    // The run only proves something if every kind of fault actually happened.
    for (const fault of ['error500', 'error503', 'delay', 'drop', 'truncate'] as const) expect(proxy.counts[fault]).toBeGreaterThan(0);
  });

  it('completes a multipart put when requests fail before reaching the server', async () => {
    // Only faults that stop a request before the server sees it: a retried
    // CompleteMultipartUpload that did land would meet NoSuchUpload on s3rver.
    const proxy = await proxied({ rate: 0.4, seed: 2, faults: ['error500', 'error503', 'drop', 'delay'], delayMs: 2_000, maxConsecutive: 3 });
    const flaky = store('faults-multipart', proxy.endpoint, { maxAttempts: 6, requestTimeoutMs: 1_500 });
    const data = testBytes(11 * 1024 * 1024 + 17, 99);
    await flaky.put('big', data);
    const direct = store('faults-multipart', server.endpoint);
    expect(sameBytes(await direct.get('big'), data)).toBe(true);
    const faults = proxy.counts.error500 + proxy.counts.error503 + proxy.counts.drop + proxy.counts.delay;
    expect(faults).toBeGreaterThan(0);
  });

  describe.each(['error500', 'error503', 'delay', 'drop', 'truncate'] as const)('with every request failing (%s)', (fault) => {
    it('gives up with E_STORE naming the object, within a bounded time', async () => {
      const direct = store(`faults-100/${fault}`, server.endpoint);
      await direct.put('present', testBytes(10_000, 3));
      const proxy = await proxied({ rate: 1, faults: [fault], delayMs: 2_000 });
      const broken = store(`faults-100/${fault}`, proxy.endpoint, { maxAttempts: 3, requestTimeoutMs: 300, connectionTimeoutMs: 300 });
      const url = `s3://${server.bucket}/faults-100/${fault}`;

      const started = Date.now();
      const calls: Array<[() => Promise<unknown>, string]> = [
        [() => broken.put('new', testBytes(100)), `${url}/new`],
        [() => broken.get('present'), `${url}/present`],
        [() => broken.getRange('present', 100, 1_000), `${url}/present`],
        [() => broken.list(''), `${url}/`],
      ];
      for (const [call, named] of calls) {
        const error = await call().catch((caught: unknown) => caught);
        expect(error).toMatchObject({ name: 'FkdError', code: 'E_STORE', path: named });
        expect((error as Error).message).toContain(named);
        expect((error as Error).message).toMatch(/after 3 attempts.*check the endpoint/);
      }
      // 4 calls x 3 attempts, each bounded by the 300 ms timeouts plus sub-second backoff.
      expect(Date.now() - started).toBeLessThan(15_000);
    });
  });

  it('gives up with E_STORE when nothing listens at the endpoint', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
      });
    });
    const unreachable = store('nowhere', `http://127.0.0.1:${port}`, { maxAttempts: 3, connectionTimeoutMs: 300 });
    const started = Date.now();
    const error = await unreachable.get('k').catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'E_STORE', path: `s3://${server.bucket}/nowhere/k` });
    expect((error as Error).message).toMatch(/ECONNREFUSED|after 3 attempts/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
