import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/storage/fs.js';
import { openStore } from '../../src/storage/open.js';
import { describeStoreConformance, testBytes } from './conformance.js';

const directories: string[] = [];

async function freshDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'fkd-fs-store-'));
  directories.push(directory);
  return directory;
}

afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

describeStoreConformance('FsStore', async () => new FsStore(await freshDirectory()));

describe('FsStore specifics', () => {
  it('leaves no temp files behind after puts', async () => {
    const directory = await freshDirectory();
    const store = new FsStore(directory);
    await store.put('a/b', testBytes(1000));
    await store.put('a/b', testBytes(2000));
    expect(await readdir(join(directory, 'a'))).toEqual(['b']);
  });
});

describe('openStore (local)', () => {
  it('opens a plain path and a file:// URL as an FsStore', async () => {
    const directory = await freshDirectory();
    const plain = await openStore(directory);
    const url = await openStore(pathToFileURL(directory).href);
    expect(plain).toBeInstanceOf(FsStore);
    expect(url).toBeInstanceOf(FsStore);
    expect(url.location).toBe(plain.location);
  });

  it('refuses an unknown scheme instead of creating a directory named after it', async () => {
    await expect(openStore('gs://bucket/labels')).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});

describe('FsStore temp files', () => {
  it('removes the temp files a killed writer left beside a key, once they are stale', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fkd-fs-temp-'));
    try {
      const store = new FsStore(dir);
      await store.put('shards/000001.fkd', Uint8Array.of(1));
      const stale = join(dir, 'shards', '000001.fkd.0123456789ab.tmp');
      const fresh = join(dir, 'shards', '000001.fkd.ba9876543210.tmp');
      const other = join(dir, 'shards', '000002.fkd.0123456789ab.tmp');
      for (const file of [stale, fresh, other]) await writeFile(file, 'partial');
      const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
      await utimes(stale, old, old);
      await utimes(other, old, old);
      await store.put('shards/000001.fkd', Uint8Array.of(2));
      // The stale temp of this key goes; a fresh one may belong to a live writer, another key's is not ours.
      expect((await readdir(join(dir, 'shards'))).sort()).toEqual(['000001.fkd', '000001.fkd.ba9876543210.tmp', '000002.fkd.0123456789ab.tmp']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
