import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/storage/open.js';
import { parseS3Url, S3Store, type S3StoreOptions } from '../../src/storage/s3.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { describeStoreConformance, sameBytes, testBytes } from './conformance.js';

let server: S3TestServer;
const opened: S3Store[] = [];
let storeCount = 0;

function makeStore(prefix = `run-${(storeCount += 1)}`, options: S3StoreOptions = {}): S3Store {
  const store = new S3Store(`s3://${server.bucket}/${prefix}`, { endpoint: server.endpoint, ...options });
  opened.push(store);
  return store;
}

/** Runs `body` with some environment variables replaced, then puts them back. */
async function withEnvironment(changes: Record<string, string | undefined>, body: () => Promise<void>): Promise<void> {
  const saved = Object.fromEntries(Object.keys(changes).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    }
  };
  apply(changes);
  try {
    await body();
  } finally {
    apply(saved);
  }
}

beforeAll(async () => {
  server = await startS3Server();
});

afterAll(async () => {
  for (const store of opened) store.close();
  await server?.stop();
});

// s3rver, unlike S3, rewrites an object's file in place: see ConformanceOptions.
describeStoreConformance('S3Store on s3rver', async () => makeStore(), { backendWritesInPlace: true });

describe('parseS3Url', () => {
  it('splits bucket and prefix, ignoring a trailing slash', () => {
    expect(parseS3Url('s3://labels')).toEqual({ bucket: 'labels', prefix: '' });
    expect(parseS3Url('s3://labels/')).toEqual({ bucket: 'labels', prefix: '' });
    expect(parseS3Url('s3://labels/imagenet/v1/')).toEqual({ bucket: 'labels', prefix: 'imagenet/v1' });
  });

  it.each(['s3://', 's3:///x', 's3://bucket/../x', 's3://bucket/a//b', 's3://bu cket/x', 'labels/x'])('rejects %j with E_USAGE', (url) => {
    expect(() => parseS3Url(url)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });
});

describe('S3Store specifics', () => {
  it('normalises its location', () => {
    expect(makeStore('trailing/slash/').location).toBe(`s3://${server.bucket}/trailing/slash`);
  });

  it('follows ListObjectsV2 continuation tokens across pages', async () => {
    const store = makeStore(undefined, { listPageSize: 2 });
    const keys = ['p/a', 'p/b', 'p/c/d', 'p/e', 'p/f', 'p/g', 'p/h'];
    for (const key of keys) await store.put(key, testBytes(3));
    expect((await store.list('p/')).map((entry) => entry.key)).toEqual(keys);
  });

  it('keeps sibling prefixes apart (run-1 never sees run-10)', async () => {
    const short = makeStore('sibling-1');
    const long = makeStore('sibling-10');
    await short.put('x', testBytes(1));
    await long.put('y', testBytes(2));
    expect(await short.list('')).toEqual([{ key: 'x', size: 1 }]);
    expect(await long.list('')).toEqual([{ key: 'y', size: 2 }]);
  });

  it('works at the bucket root', async () => {
    const root = new S3Store(`s3://${server.bucket}`, { endpoint: server.endpoint });
    opened.push(root);
    await root.put('at-root/key', testBytes(10));
    expect(await root.head('at-root/key')).toEqual({ size: 10 });
    expect((await root.list('at-root/')).map((entry) => entry.key)).toEqual(['at-root/key']);
    await root.delete('at-root/key');
  });

  it('reports a missing bucket as E_STORE naming the bucket', async () => {
    const store = new S3Store('s3://no-such-bucket/x', { endpoint: server.endpoint });
    opened.push(store);
    const error = await store.get('k').catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'E_STORE', path: 's3://no-such-bucket/x/k', details: { path: 's3://no-such-bucket/x/k', key: 'k', status: 404 } });
    expect((error as Error).message).toContain('bucket "no-such-bucket" does not exist');
  });

  it('never puts credentials into errors, even when the server echoes them back', async () => {
    // s3rver does not verify SigV4 signatures, but it does reject unknown access key ids and,
    // like AWS, echoes the id in the error body, which the SDK copies onto its exception.
    const accessKey = 'AKIAFAKEACCESSKEY123';
    const secret = 'not-the-secret-9f8e7d6c5b4a';
    await withEnvironment({ AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secret }, async () => {
      const store = makeStore('denied', { maxAttempts: 2 });
      for (const attempt of [() => store.put('k', testBytes(10)), () => store.get('k'), () => store.list('')]) {
        const error = await attempt().catch((caught: unknown) => caught);
        expect(error).toMatchObject({ code: 'E_STORE' });
        expect((error as Error).message).toMatch(/denied.*InvalidAccessKeyId/);
        const everything = `${inspect(error, { depth: 10, showHidden: true })} ${JSON.stringify(error)} ${(error as Error).stack ?? ''}`;
        expect(everything).not.toContain(secret);
        expect(everything).not.toContain(accessKey);
      }
    });
  });
});

describe('openStore (s3)', () => {
  it('opens s3:// URLs as an S3Store, with forcePathStyle implied by the endpoint', async () => {
    const store = await openStore(`s3://${server.bucket}/open-explicit`, { s3: { endpoint: server.endpoint, maxAttempts: 2 } });
    expect(store).toBeInstanceOf(S3Store);
    opened.push(store as S3Store);
    await store.put('k', testBytes(5));
    expect(sameBytes(await store.get('k'), testBytes(5))).toBe(true);
  });

  it('honours AWS_ENDPOINT_URL and falls back to us-east-1 when no region is configured', async () => {
    await withEnvironment(
      { AWS_ENDPOINT_URL: server.endpoint, AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined, AWS_CONFIG_FILE: '/nonexistent/fkd-test-config' },
      async () => {
        const store = await openStore(`s3://${server.bucket}/open-env`);
        opened.push(store as S3Store);
        await store.put('k', testBytes(7));
        expect(await store.head('k')).toEqual({ size: 7 });
      },
    );
  });
});
