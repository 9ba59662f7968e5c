import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, truncate, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CachedStore } from '../../src/storage/cache.js';
import type { StoreDriver } from '../../src/storage/driver.js';
import { FsStore } from '../../src/storage/fs.js';
import { describeStoreConformance, sameBytes, testBytes } from './conformance.js';

const directories: string[] = [];

async function freshDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'fkd-cache-'));
  directories.push(directory);
  return directory;
}

afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

/** Counts how often each backend operation runs: the cache's whole point is to avoid them. */
class CountingStore implements StoreDriver {
  readonly calls = { get: 0, getRange: 0, put: 0, head: 0, list: 0, delete: 0 };
  constructor(readonly inner: StoreDriver) {}
  get location(): string {
    return this.inner.location;
  }
  get(key: string): Promise<Uint8Array> {
    this.calls.get += 1;
    return this.inner.get(key);
  }
  getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    this.calls.getRange += 1;
    return this.inner.getRange(key, offset, length);
  }
  put(key: string, data: Uint8Array): Promise<void> {
    this.calls.put += 1;
    return this.inner.put(key, data);
  }
  head(key: string): Promise<{ size: number } | null> {
    this.calls.head += 1;
    return this.inner.head(key);
  }
  list(prefix: string): Promise<Array<{ key: string; size: number }>> {
    this.calls.list += 1;
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    this.calls.delete += 1;
    return this.inner.delete(key);
  }
}

async function setup(maxBytes = 1024 * 1024): Promise<{ backend: CountingStore; cache: CachedStore; cacheDir: string }> {
  const backend = new CountingStore(new FsStore(await freshDirectory()));
  const cacheDir = await freshDirectory();
  return { backend, cache: new CachedStore(backend, { cacheDir, maxBytes }), cacheDir };
}

/** Every cached file, as paths relative to the cache directory. */
async function cachedFiles(cacheDir: string): Promise<string[]> {
  const files: string[] = [];
  for (const directory of await readdir(cacheDir)) {
    for (const name of await readdir(join(cacheDir, directory))) files.push(join(directory, name));
  }
  return files.sort();
}

async function bytesOnDisk(cacheDir: string): Promise<number> {
  let total = 0;
  for (const file of await cachedFiles(cacheDir)) total += (await stat(join(cacheDir, file))).size;
  return total;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describeStoreConformance('CachedStore over FsStore', async () => new CachedStore(new FsStore(await freshDirectory()), { cacheDir: await freshDirectory(), maxBytes: 64 * 1024 * 1024 }));

describe('CachedStore', () => {
  it('serves repeated ranged reads and whole reads without the backend', async () => {
    const { backend, cache } = await setup();
    const data = testBytes(50_000, 1);
    await backend.put('shards/a', data);

    for (let epoch = 0; epoch < 3; epoch += 1) {
      expect(sameBytes(await cache.getRange('shards/a', 1_000, 2_000), data.subarray(1_000, 3_000))).toBe(true);
      expect(sameBytes(await cache.get('shards/a'), data)).toBe(true);
    }
    expect(backend.calls.getRange).toBe(1);
    expect(backend.calls.get).toBe(1);
    expect(cache.stats).toMatchObject({ hits: 4, misses: 2 });

    // Another range of the same key is its own entry, not cut from the cached whole object.
    await cache.getRange('shards/a', 0, 10);
    expect(backend.calls.getRange).toBe(2);
  });

  it('keeps serving from disk across instances', async () => {
    const { backend, cache, cacheDir } = await setup();
    await backend.put('k', testBytes(4_000, 2));
    await cache.getRange('k', 100, 200);
    const later = new CachedStore(backend, { cacheDir, maxBytes: 1024 * 1024 });
    expect(sameBytes(await later.getRange('k', 100, 200), testBytes(4_000, 2).subarray(100, 300))).toBe(true);
    expect(backend.calls.getRange).toBe(1);
  });

  it('evicts least recently used entries to stay within maxBytes', async () => {
    const { backend, cache, cacheDir } = await setup(10_000);
    for (const key of ['a', 'b', 'c', 'd']) await backend.put(key, testBytes(3_000, key.charCodeAt(0)));

    await cache.get('a');
    await cache.get('b');
    await cache.get('c');
    await cache.get('a'); // a is now more recent than b
    await cache.get('d'); // 12 000 bytes > 10 000: b, the least recently used, goes
    expect(cache.cachedBytes).toBeLessThanOrEqual(10_000);
    expect(await bytesOnDisk(cacheDir)).toBeLessThanOrEqual(10_000);
    expect(cache.stats.evictions).toBe(1);

    const before = backend.calls.get;
    await cache.get('a');
    await cache.get('c');
    await cache.get('d');
    expect(backend.calls.get).toBe(before);
    await cache.get('b');
    expect(backend.calls.get).toBe(before + 1);
  });

  it('does not cache a read larger than maxBytes, but still returns it', async () => {
    const { backend, cache, cacheDir } = await setup(1_000);
    await backend.put('big', testBytes(5_000, 3));
    expect(sameBytes(await cache.get('big'), testBytes(5_000, 3))).toBe(true);
    expect(await cachedFiles(cacheDir)).toEqual([]);
  });

  it('applies a smaller maxBytes to what an earlier run left behind', async () => {
    const { backend, cache, cacheDir } = await setup();
    for (const key of ['a', 'b', 'c']) {
      await backend.put(key, testBytes(2_000, 4));
      await cache.get(key);
    }
    const smaller = new CachedStore(backend, { cacheDir, maxBytes: 4_500 });
    await smaller.get('c'); // the first read scans the directory and evicts down to the new bound
    expect(await bytesOnDisk(cacheDir)).toBeLessThanOrEqual(4_500);
  });

  it('discards a cache file whose size is wrong and fetches again', async () => {
    const { backend, cache, cacheDir } = await setup();
    const data = testBytes(8_000, 5);
    await backend.put('k', data);
    await cache.getRange('k', 0, 8_000);
    const [file] = await cachedFiles(cacheDir);
    await truncate(join(cacheDir, file as string), 3_000);

    expect(sameBytes(await cache.getRange('k', 0, 8_000), data)).toBe(true);
    expect(backend.calls.getRange).toBe(2);
    expect(cache.stats.discarded).toBe(1);
    expect((await stat(join(cacheDir, file as string))).size).toBe(8_000);
  });

  it('discards a wrong-sized file found by a fresh instance', async () => {
    const { backend, cache, cacheDir } = await setup();
    await backend.put('k', testBytes(1_000, 6));
    await cache.get('k');
    const [file] = await cachedFiles(cacheDir);
    await writeFile(join(cacheDir, file as string), 'short');
    const later = new CachedStore(backend, { cacheDir, maxBytes: 1024 * 1024 });
    expect(sameBytes(await later.get('k'), testBytes(1_000, 6))).toBe(true);
    expect(later.stats).toMatchObject({ discarded: 1, hits: 0, misses: 1 });
  });

  it('never serves stale or corrupt bytes when the caller passes the expected sha256', async () => {
    const { backend, cache, cacheDir } = await setup();
    const old = testBytes(4_000, 7);
    const replacement = testBytes(4_000, 8); // same size: only the hash can tell
    await backend.put('shard', old);
    await cache.getRange('shard', 0, 4_000, { sha256: sha256(old) });

    // Another writer replaces the object behind the cache's back.
    await backend.inner.put('shard', replacement);
    expect(sameBytes(await cache.getRange('shard', 0, 4_000), old)).toBe(true); // no hash: assumed immutable
    expect(sameBytes(await cache.getRange('shard', 0, 4_000, { sha256: sha256(replacement) }), replacement)).toBe(true);

    // Bit rot in the cache file with the size intact.
    const [file] = await cachedFiles(cacheDir);
    const onDisk = await readFile(join(cacheDir, file as string));
    onDisk[17] = (onDisk[17] ?? 0) ^ 0xff;
    await writeFile(join(cacheDir, file as string), onDisk);
    expect(sameBytes(await cache.getRange('shard', 0, 4_000, { sha256: sha256(replacement) }), replacement)).toBe(true);
    expect(cache.stats.discarded).toBe(2);
  });

  it('refuses backend bytes that do not match the expected sha256, and does not cache them', async () => {
    const { backend, cache, cacheDir } = await setup();
    await backend.put('shard', testBytes(100, 9));
    await expect(cache.get('shard', { sha256: sha256(testBytes(100, 10)) })).rejects.toMatchObject({ code: 'E_CORRUPT_SHARD' });
    expect(await cachedFiles(cacheDir)).toEqual([]);
  });

  it('drops cached reads of a key written or deleted through it', async () => {
    const { backend, cache } = await setup();
    await cache.put('k', testBytes(500, 11));
    await cache.getRange('k', 0, 100);
    await cache.put('k', testBytes(500, 12));
    expect(sameBytes(await cache.getRange('k', 0, 100), testBytes(500, 12).subarray(0, 100))).toBe(true);
    await cache.delete('k');
    await expect(cache.getRange('k', 0, 100)).rejects.toMatchObject({ code: 'E_IO' });
    expect(backend.calls.getRange).toBe(3);
  });

  it('passes head and list through to the backend', async () => {
    const { backend, cache } = await setup();
    await backend.put('x/y', testBytes(10));
    expect(await cache.head('x/y')).toEqual({ size: 10 });
    expect(await cache.list('x/')).toEqual([{ key: 'x/y', size: 10 }]);
    expect(backend.calls).toMatchObject({ head: 1, list: 1 });
  });

  it('leaves files it did not write alone', async () => {
    const { backend, cacheDir } = await setup();
    await writeFile(join(cacheDir, 'notes.txt'), 'mine');
    await writeFile(join(cacheDir, 'README'), 'mine too');
    const cache = new CachedStore(backend, { cacheDir, maxBytes: 0 });
    await backend.put('k', testBytes(10));
    await cache.get('k');
    expect((await readdir(cacheDir)).sort()).toEqual(['README', 'notes.txt']);
  });

  it('rejects invalid options and bad keys before touching anything', async () => {
    const { backend, cacheDir } = await setup();
    expect(() => new CachedStore(backend, { cacheDir, maxBytes: -1 })).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    const cache = new CachedStore(backend, { cacheDir, maxBytes: 1_000 });
    await expect(cache.get('../escape')).rejects.toMatchObject({ code: 'E_BAD_KEY' });
    await expect(cache.getRange('a', -1, 5)).rejects.toMatchObject({ code: 'E_USAGE' });
    expect(backend.calls.get + backend.calls.getRange).toBe(0);
  });
});

describe('CachedStore under concurrency', () => {
  it('counts a range fetched by several readers at once only once', async () => {
    const { backend, cache, cacheDir } = await setup();
    await backend.put('k', testBytes(3_000, 13));
    await Promise.all(Array.from({ length: 5 }, () => cache.getRange('k', 0, 3_000)));
    expect(cache.cachedBytes).toBe(3_000);
    expect(await bytesOnDisk(cacheDir)).toBe(3_000);
  });

  it('never keeps bytes read before a put through it finished', async () => {
    const { cache } = await setup();
    await cache.put('k', testBytes(2_000, 14));
    const racing = Array.from({ length: 10 }, () => cache.get('k'));
    await cache.put('k', testBytes(2_000, 15));
    await Promise.all(racing);
    expect(sameBytes(await cache.get('k'), testBytes(2_000, 15))).toBe(true);
  });
});
