/**
 * One behaviour contract for every StoreDriver. A driver test file calls
 * `describeStoreConformance` with a factory that returns a fresh, empty store per test.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { StoreDriver } from '../../src/storage/driver.js';

/** Deterministic pseudo-random bytes, so a failure reproduces. */
export function testBytes(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let index = 0; index < length; index += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

/** Byte equality without vitest diffing megabytes on failure. */
export function sameBytes(actual: Uint8Array, expected: Uint8Array): boolean {
  return Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength));
}

/** Keys that must never reach a backend. */
export const BAD_KEYS = ['../x', '/abs', 'a//b', 'a/../b', './a', 'a/.', '', 'a/', 'a\\b'];

/** Just over the 5 MiB S3 multipart threshold, so S3 drivers take the multipart path. */
const LARGE = 5 * 1024 * 1024 + 300_001;

export interface ConformanceOptions {
  /**
   * The backend writes an object's bytes in place, so a read racing an overwrite may see a mix
   * of old and new. True of s3rver (it streams into the final file, then writes metadata),
   * never of S3 itself or of FsStore; set only for such test doubles. Listing must still show
   * no temp objects, and the final state must be exact.
   */
  backendWritesInPlace?: boolean;
}

/**
 * Registers the shared driver tests.
 *
 * @example
 * describeStoreConformance('FsStore', async () => new FsStore(await mkdtemp(join(tmpdir(), 'fkd-'))));
 */
export function describeStoreConformance(name: string, makeStore: () => Promise<StoreDriver>, options: ConformanceOptions = {}): void {
  const tornReads = options.backendWritesInPlace === true;
  describe(`StoreDriver conformance: ${name}`, () => {
    let store: StoreDriver;
    beforeEach(async () => {
      store = await makeStore();
    });

    it('round-trips bytes exactly: every byte value, random bytes, an empty object', async () => {
      const everyByte = Uint8Array.from({ length: 512 }, (_, index) => index % 256);
      const random = testBytes(70_001, 2);
      await store.put('bin/every-byte', everyByte);
      await store.put('bin/random', random);
      await store.put('bin/empty', new Uint8Array(0));
      expect(sameBytes(await store.get('bin/every-byte'), everyByte)).toBe(true);
      expect(sameBytes(await store.get('bin/random'), random)).toBe(true);
      expect((await store.get('bin/empty')).length).toBe(0);
      expect(await store.head('bin/random')).toEqual({ size: random.length });
      expect(await store.head('bin/empty')).toEqual({ size: 0 });
    });

    it('accepts keys with spaces, symbols and non-ASCII characters', async () => {
      const keys = ['odd/name with space+plus=eq&amp%20;.bin', 'odd/ünïcødé/ß.bin', 'odd/x~y@z,(1).bin'];
      for (const [index, key] of keys.entries()) await store.put(key, testBytes(100 + index, index));
      for (const [index, key] of keys.entries()) expect(sameBytes(await store.get(key), testBytes(100 + index, index))).toBe(true);
      expect((await store.list('odd/')).map((entry) => entry.key)).toEqual([...keys].sort());
    });

    it('creates with putIfAbsent only once: of racing creators exactly one wins, and its bytes are stored', async () => {
      const create = store.putIfAbsent!.bind(store);
      const outcomes = await Promise.all([1, 2, 3, 4].map((seed) => create('claim/config.json', testBytes(300, seed))));
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const winner = outcomes.indexOf(true) + 1;
      expect(sameBytes(await store.get('claim/config.json'), testBytes(300, winner))).toBe(true);
      expect(await create('claim/config.json', testBytes(300, 9))).toBe(false);
      expect(sameBytes(await store.get('claim/config.json'), testBytes(300, winner))).toBe(true);
      expect((await store.list('claim/')).map((entry) => entry.key)).toEqual(['claim/config.json']);
    });

    it('overwrites an existing key with the new bytes and size', async () => {
      await store.put('over/key', testBytes(5_000, 3));
      await store.put('over/key', testBytes(1_234, 4));
      expect(sameBytes(await store.get('over/key'), testBytes(1_234, 4))).toBe(true);
      expect(await store.head('over/key')).toEqual({ size: 1_234 });
      expect(await store.list('over/')).toEqual([{ key: 'over/key', size: 1_234 }]);
    });

    it('reads ranges: start, middle, the last byte, a zero-length range', async () => {
      const data = testBytes(10_000, 5);
      await store.put('range/object', data);
      for (const [offset, length] of [[0, 1], [0, 100], [1234, 4321], [9_999, 1], [0, 10_000], [500, 0]] as const) {
        const got = await store.getRange('range/object', offset, length);
        expect(got.length).toBe(length);
        expect(sameBytes(got, data.subarray(offset, offset + length))).toBe(true);
      }
    });

    it('rejects a range that runs past the end with E_CORRUPT_SHARD', async () => {
      await store.put('range/short', testBytes(100, 6));
      await expect(store.getRange('range/short', 50, 51)).rejects.toMatchObject({ code: 'E_CORRUPT_SHARD' });
      await expect(store.getRange('range/short', 100, 1)).rejects.toMatchObject({ code: 'E_CORRUPT_SHARD' });
      await expect(store.getRange('range/short', 5_000, 10)).rejects.toMatchObject({ code: 'E_CORRUPT_SHARD' });
    });

    it('reports a missing key the same way: E_IO naming the key, head null, delete a no-op', async () => {
      const error = await store.get('missing/key').catch((caught: unknown) => caught);
      expect(error).toMatchObject({ name: 'FkdError', code: 'E_IO' });
      expect((error as Error).message).toContain('missing/key');
      await expect(store.getRange('missing/key', 0, 10)).rejects.toMatchObject({ code: 'E_IO' });
      await expect(store.getRange('missing/key', 0, 0)).rejects.toMatchObject({ code: 'E_IO' });
      expect(await store.head('missing/key')).toBeNull();
      await expect(store.delete('missing/key')).resolves.toBeUndefined();
    });

    it('lists by prefix: sorted by key, nested keys included, with sizes', async () => {
      const keys = ['b', 'a/2', 'a/1', 'a/10', 'ab', 'a/sub/x', 'a.txt'];
      for (const key of keys) await store.put(key, testBytes(key.length * 3, key.length));
      const all = await store.list('');
      expect(all.map((entry) => entry.key)).toEqual(['a.txt', 'a/1', 'a/10', 'a/2', 'a/sub/x', 'ab', 'b']);
      for (const entry of all) expect(entry.size).toBe(entry.key.length * 3);
      expect((await store.list('a/')).map((entry) => entry.key)).toEqual(['a/1', 'a/10', 'a/2', 'a/sub/x']);
      expect((await store.list('a')).map((entry) => entry.key)).toEqual(['a.txt', 'a/1', 'a/10', 'a/2', 'a/sub/x', 'ab']);
      expect((await store.list('a/sub/')).map((entry) => entry.key)).toEqual(['a/sub/x']);
      expect(await store.list('nothing/')).toEqual([]);
    });

    it('deletes a key: gone from get, head and list, neighbours untouched', async () => {
      await store.put('del/a', testBytes(10, 7));
      await store.put('del/b', testBytes(20, 8));
      await store.delete('del/a');
      expect(await store.head('del/a')).toBeNull();
      await expect(store.get('del/a')).rejects.toMatchObject({ code: 'E_IO' });
      expect(await store.list('del/')).toEqual([{ key: 'del/b', size: 20 }]);
    });

    it.each(BAD_KEYS)('rejects the bad key %j with E_BAD_KEY on every operation', async (key) => {
      await expect(store.get(key)).rejects.toMatchObject({ code: 'E_BAD_KEY' });
      await expect(store.getRange(key, 0, 1)).rejects.toMatchObject({ code: 'E_BAD_KEY' });
      await expect(store.put(key, testBytes(4))).rejects.toMatchObject({ code: 'E_BAD_KEY' });
      await expect(store.head(key)).rejects.toMatchObject({ code: 'E_BAD_KEY' });
      await expect(store.delete(key)).rejects.toMatchObject({ code: 'E_BAD_KEY' });
      expect(await store.list('')).toEqual([]);
    });

    it('stores a large object (> 5 MiB: multipart on S3) exactly, and ranges across parts', async () => {
      const data = testBytes(LARGE, 9);
      await store.put('large/object', data);
      expect(await store.head('large/object')).toEqual({ size: LARGE });
      expect(sameBytes(await store.get('large/object'), data)).toBe(true);
      const boundary = 5 * 1024 * 1024;
      expect(sameBytes(await store.getRange('large/object', boundary - 1000, 2000), data.subarray(boundary - 1000, boundary + 1000))).toBe(true);
      expect(sameBytes(await store.getRange('large/object', LARGE - 7, 7), data.subarray(LARGE - 7))).toBe(true);
    });

    it('is atomic under concurrent puts: readers see whole old or whole new objects, never temp objects', async () => {
      const first = testBytes(LARGE, 10);
      const second = testBytes(LARGE + 4_096, 11);
      await store.put('atomic/object', first);
      let writing = true;
      const writer = (async () => {
        try {
          for (let round = 0; round < 3; round += 1) {
            await store.put('atomic/object', round % 2 === 0 ? second : first);
            await store.put(`atomic/fresh-${round}`, second);
          }
        } finally {
          writing = false;
        }
      })();
      let reads = 0;
      while (writing || reads === 0) {
        for (const entry of await store.list('atomic/')) {
          expect(entry.key).toMatch(/^atomic\/(object|fresh-\d)$/);
          if (!tornReads) expect([first.length, second.length]).toContain(entry.size);
        }
        if (!tornReads) {
          const seen = await store.get('atomic/object');
          expect(sameBytes(seen, first) || sameBytes(seen, second)).toBe(true);
        }
        reads += 1;
      }
      await writer;
      expect((await store.list('atomic/')).map((entry) => entry.key)).toEqual(['atomic/fresh-0', 'atomic/fresh-1', 'atomic/fresh-2', 'atomic/object']);
      expect(sameBytes(await store.get('atomic/object'), second)).toBe(true);
    });
  });
}
