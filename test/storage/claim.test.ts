import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { claimObject, CLAIMS_PREFIX } from '../../src/storage/claim.js';
import { S3Store } from '../../src/storage/s3.js';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { sameBytes, testBytes } from './conformance.js';

let server: S3TestServer;
const opened: S3Store[] = [];
let count = 0;
beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  for (const store of opened) store.close();
  await server.stop();
});

/** A store on s3rver, which ignores If-None-Match: only the marks keep writers apart. */
function store(): S3Store {
  const made = new S3Store(`s3://${server.bucket}/marks-${(count += 1)}`, { endpoint: server.endpoint });
  opened.push(made);
  return made;
}

/** The create step as a server without conditional puts has it: a plain put. */
const plainCreate = (target: S3Store) => async (key: string, data: Uint8Array) => {
  await target.put(key, data);
  return true;
};

const digest = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe('claimObject: exclusive creation from read-after-write consistency alone', () => {
  it('of eight writers with different bytes, exactly one writes, and no marks are left', async () => {
    const target = store();
    const outcomes = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => claimObject(target, plainCreate(target), 'config.json', testBytes(200, seed))));
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    expect(sameBytes(await target.get('config.json'), testBytes(200, outcomes.indexOf(true) + 1))).toBe(true);
    expect(await target.list(CLAIMS_PREFIX)).toEqual([]);
  });

  it('never makes writers with identical bytes wait for each other: all finish in the first round', async () => {
    const target = store();
    const data = testBytes(200, 1);
    // With attempts: 1, a writer that met a rival would throw instead of retrying.
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => claimObject(target, plainCreate(target), 'config.json', data, { attempts: 1 })));
    expect(outcomes.filter(Boolean).length).toBeGreaterThanOrEqual(1);
    expect(sameBytes(await target.get('config.json'), data)).toBe(true);
    expect(await target.list(CLAIMS_PREFIX)).toEqual([]);
  });

  it('refuses, naming the mark and what to do, when a killed writer left a mark with other bytes', async () => {
    const target = store();
    const stale = `${CLAIMS_PREFIX}config.json/${digest(testBytes(200, 2))}.left-by-a-killed-run`;
    await target.put(stale, new Uint8Array(0));
    const error: unknown = await claimObject(target, plainCreate(target), 'config.json', testBytes(200, 1), { attempts: 3, baseDelayMs: 1 }).catch((caught: unknown) => caught);
    expect(isFkdError(error, 'E_STORE')).toBe(true);
    expect((error as Error).message).toContain(`${target.location}/${stale}`);
    expect((error as Error).message).toMatch(/killed while claiming it: delete them and run again/);
    expect(await target.head('config.json')).toBeNull();
    expect((await target.list(CLAIMS_PREFIX)).map((entry) => entry.key)).toEqual([stale]);
  });

  it('is not blocked by a left-over mark with the same bytes', async () => {
    const target = store();
    const data = testBytes(200, 1);
    await target.put(`${CLAIMS_PREFIX}config.json/${digest(data)}.left-by-a-killed-run`, new Uint8Array(0));
    await expect(claimObject(target, plainCreate(target), 'config.json', data, { attempts: 1 })).resolves.toBe(true);
    expect(sameBytes(await target.get('config.json'), data)).toBe(true);
  });

  it('returns false without writing when the object exists, and when the final create is refused for a writer that got there', async () => {
    const target = store();
    await target.put('config.json', testBytes(200, 5));
    await expect(claimObject(target, plainCreate(target), 'config.json', testBytes(200, 1))).resolves.toBe(false);
    expect(sameBytes(await target.get('config.json'), testBytes(200, 5))).toBe(true);
    const refusing = store();
    // Another writer's object lands just as ours is refused (S3's 412).
    const beaten = async (key: string) => {
      await refusing.put(key, testBytes(200, 6));
      return false;
    };
    await expect(claimObject(refusing, beaten, 'config.json', testBytes(200, 1))).resolves.toBe(false);
    expect((await refusing.list('')).map((entry) => entry.key)).toEqual(['config.json']);
  });

  it('retries a refused create whose object never appears (a 409 for a write that failed), then names the cause', async () => {
    const target = store();
    let refusals = 0;
    const refuse = () => Promise.resolve((refusals += 1) > 2);
    await expect(claimObject(target, refuse, 'config.json', testBytes(200, 1), { baseDelayMs: 1 })).resolves.toBe(true);
    expect(refusals).toBe(3);
    const never = store();
    const error: unknown = await claimObject(never, () => Promise.resolve(false), 'config.json', testBytes(200, 1), { attempts: 3, baseDelayMs: 1 }).catch((caught: unknown) => caught);
    expect(isFkdError(error, 'E_STORE')).toBe(true);
    expect((error as Error).message).toMatch(/3 times, the server refused the write as if another writer had it, but the object never appeared/);
    expect(await never.list('')).toEqual([]);
  });
});
