import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { FkdError } from '../errors.js';
import { createFileExclusive, writeFileAtomic } from '../io/atomic-file.js';
import { ioError } from '../io/io-error.js';
import { openRegularFile, readFileCapped } from '../io/read-file.js';
import type { StoreDriver } from './driver.js';
import { checkKey } from './keys.js';

/** A store in a local directory. `put` is atomic: a temp file, fsync, then rename. */
export class FsStore implements StoreDriver {
  readonly location: string;

  constructor(directory: string) {
    this.location = resolve(directory);
  }

  private path(key: string): string {
    return join(this.location, ...checkKey(key).split('/'));
  }

  async get(key: string): Promise<Uint8Array> {
    const path = this.path(key);
    try {
      // A key naming a FIFO or device is refused, not waited on (io/read-file.ts).
      return await readFileCapped(path, MAX_READ_LENGTH, path);
    } catch (error) {
      throw error instanceof FkdError ? error : ioError(error, 'read', path);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const path = this.path(key);
    // Node's file read aborts the whole process (an assertion, not an exception) on a
    // length of 2^31 or more, so bad numbers must never reach it.
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || length > MAX_READ_LENGTH) {
      throw new FkdError('E_USAGE', `Expected an offset ≥ 0 and a length in 0..${MAX_READ_LENGTH} for a ranged read of ${path} but received ${offset} and ${length}.`, { path });
    }
    let handle;
    try {
      handle = await openRegularFile(path);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      if (bytesRead !== length) {
        throw new FkdError('E_CORRUPT_SHARD', `${path} is shorter than expected: wanted bytes ${offset}..${offset + length - 1}, got ${bytesRead}. The file is truncated; re-run the command that wrote it.`, { path });
      }
      return buffer;
    } catch (error) {
      throw error instanceof FkdError ? error : ioError(error, 'read', path);
    } finally {
      await handle?.close();
    }
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const path = this.path(key);
    try {
      await writeFileAtomic(path, data);
    } catch (error) {
      throw ioError(error, 'write', path);
    }
    await removeStaleTemps(path);
  }

  async putIfAbsent(key: string, data: Uint8Array): Promise<boolean> {
    const path = this.path(key);
    try {
      return await createFileExclusive(path, data);
    } catch (error) {
      throw ioError(error, 'write', path);
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const info = await stat(this.path(key));
      return info.isFile() ? { size: info.size } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw ioError(error, 'stat', this.path(key));
    }
  }

  async list(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const found: Array<{ key: string; size: number }> = [];
    const walk = async (directory: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(directory, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw ioError(error, 'list', directory);
      }
      for (const entry of entries) {
        const path = join(directory, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.isFile() && !entry.name.endsWith('.tmp')) {
          const key = relative(this.location, path).split(sep).join('/');
          if (!key.startsWith(prefix)) continue;
          try {
            found.push({ key, size: (await stat(path)).size });
          } catch (error) {
            // Deleted while we walked: it is simply not there any more.
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(error, 'stat', path);
          }
        }
      }
    };
    await walk(this.location);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}

/** The longest single read: Node's fs read takes a 32-bit signed length. */
const MAX_READ_LENGTH = 2 ** 31 - 1;

/** A temp file this old belongs to a writer that was killed mid-write, not to one still writing. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/** Deletes the temp files that killed writers left beside `path`; best effort. */
async function removeStaleTemps(path: string): Promise<void> {
  const directory = dirname(path);
  const prefix = `${basename(path)}.`;
  const names = await readdir(directory).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const temp = join(directory, name);
    const info = await stat(temp).catch(() => null);
    if (info && Date.now() - info.mtimeMs > STALE_TEMP_MS) await rm(temp, { force: true });
  }
}
