import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../src/storage/s3.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';

let server: S3TestServer;
let store: S3Store;
beforeAll(async () => {
  server = await startS3Server();
  store = new S3Store(`s3://${server.bucket}/churn`, { endpoint: server.endpoint, maxAttempts: 1 });
});
afterAll(async () => {
  store.close();
  await server.stop();
});

describe('the test S3 server (s3rver in a child process)', () => {
  it('keeps serving while writers put and delete keys under one prefix at once, as claim marks do', async () => {
    // Unpatched, s3rver removes a folder left empty by a delete while a PUT into it is
    // between making the folder and opening its file, and dies on the unhandled error.
    await Promise.all(
      Array.from({ length: 16 }, async (_, writer) => {
        for (let round = 0; round < 25; round++) {
          const key = `marks/${writer}.${round}`;
          await store.put(key, new Uint8Array(0));
          await store.delete(key);
        }
      }),
    );
    expect(await store.list('marks/')).toEqual([]);
    await store.put('after', new Uint8Array([1]));
    expect(await store.head('after')).toEqual({ size: 1 });
  });
});
