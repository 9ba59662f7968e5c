/**
 * A local disk cache in front of a (usually remote) store, for readers.
 *
 * Design, kept deliberately small:
 * - One directory per object key (`cacheDir/<hash of location + key>/`), holding one file per
 *   cached read: `full.<size>` for a whole object, `<offset>-<length>.<length>` for a range.
 *   The loader reads one range per shard per epoch, so ranges are cached as they were asked
 *   for; a range is never cut out of a cached whole object or of another range.
 * - The expected size is in the file name. A file whose size disagrees (torn write, crash,
 *   someone else's truncation) is deleted and fetched again.
 * - Files are written to a temp name and renamed, so readers never see half a file. There is
 *   no fsync: a cache is disposable, and the size check or the hash below catches what a crash
 *   leaves behind.
 * - Staleness: the cache assumes objects do not change under it (fkd's shards are write-once).
 *   Where that is not guaranteed, pass the expected `sha256` (hex) from the manifest: a hit is
 *   hashed and, on mismatch, discarded and fetched again; a fetched body that still mismatches
 *   is an `E_CORRUPT_SHARD` error and is not cached. `put`/`delete` through this wrapper drop
 *   the key's cached files; writes by other processes are only caught by the hash.
 * - Bound: `maxBytes` over all cached files, least recently used evicted first. Recency is the
 *   file's mtime (touched on every hit), so it survives restarts. Several processes may share a
 *   directory safely (atomic renames, a vanished file is a miss), but each bounds only what it
 *   knows about.
 * - `head` and `list` always go to the backend: they answer "what is there now".
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FkdError } from '../errors.js';
import { createIfAbsent, type ReadOptions, type StoreDriver } from './driver.js';
import { sha256Hex } from '../io/hash.js';
import { checkKey } from './keys.js';

export interface CachedStoreOptions {
  /** Directory for cached files; created on first use. */
  cacheDir: string;
  /** Upper bound on the bytes of all cached files. Reads larger than this are not cached. */
  maxBytes: number;
}

/** Counters for tests and progress output. */
export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Cached files thrown away because their size or hash was wrong. */
  discarded: number;
  /** Reads that could not be cached (disk full, permissions); the read itself still succeeded. */
  writeErrors: number;
}

/** Temp files older than this belong to a process that died mid-write. */
const STALE_TEMP_MS = 60 * 60 * 1000;
const ENTRY_NAME = /^(full|\d+-\d+)\.(\d+)$/;
const TEMP_NAME = /^(full|\d+-\d+)\.\d+\.[0-9a-f]{12}\.tmp$/;
const KEY_DIRECTORY = /^[0-9a-f]{32}$/;

/**
 * Wraps a driver with an LRU disk cache for `get` and `getRange`.
 *
 * @example
 * const store = new CachedStore(await openStore('s3://bucket/labels'), {
 *   cacheDir: '/var/cache/fkd',
 *   maxBytes: 20 * 1024 ** 3,
 * });
 * const block = await store.getRange('shards/00012.fkd', offset, length, { sha256: expected });
 */
export class CachedStore implements StoreDriver {
  readonly location: string;
  readonly stats: CacheStats = { hits: 0, misses: 0, evictions: 0, discarded: 0, writeErrors: 0 };
  private readonly inner: StoreDriver;
  private readonly cacheDir: string;
  private readonly maxBytes: number;
  /** Entry id (`<dir>/<variant>`) to size, oldest use first: Map keeps insertion order. */
  private readonly entries = new Map<string, number>();
  private totalBytes = 0;
  private scanned: Promise<void> | undefined;
  /** Bumped by every put/delete: a read that overlapped one may hold old bytes, so it is not cached. */
  private writes = 0;

  constructor(inner: StoreDriver, options: CachedStoreOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
      throw new FkdError('E_USAGE', `Expected non-negative integer for maxBytes but received ${options.maxBytes}.`);
    }
    if (options.cacheDir === '') throw new FkdError('E_USAGE', 'Expected a directory for cacheDir but received an empty string.');
    this.inner = inner;
    this.location = inner.location;
    this.cacheDir = options.cacheDir;
    this.maxBytes = options.maxBytes;
  }

  /** Bytes currently cached, as far as this process knows. */
  get cachedBytes(): number {
    return this.totalBytes;
  }

  get(key: string, options: ReadOptions = {}): Promise<Uint8Array> {
    return this.read(key, 'full', () => this.inner.get(key), options.sha256);
  }

  getRange(key: string, offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      return Promise.reject(new FkdError('E_USAGE', `Expected non-negative integers for offset and length but received ${offset} and ${length}.`, { path: key }));
    }
    return this.read(key, `${offset}-${length}`, () => this.inner.getRange(key, offset, length), options.sha256);
  }

  put(key: string, data: Uint8Array): Promise<void> {
    return this.writing(key, () => this.inner.put(key, data));
  }

  putIfAbsent(key: string, data: Uint8Array): Promise<boolean> {
    return this.writing(key, () => createIfAbsent(this.inner, key, data));
  }

  /** A write through to the inner store; reads that overlap it are not cached, and the key's copy is dropped. */
  private async writing<T>(key: string, write: () => Promise<T>): Promise<T> {
    this.writes += 1;
    try {
      return await write();
    } finally {
      this.writes += 1;
      await this.forget(key);
    }
  }

  head(key: string): Promise<{ size: number } | null> {
    return this.inner.head(key);
  }

  list(prefix: string): Promise<Array<{ key: string; size: number }>> {
    return this.inner.list(prefix);
  }

  delete(key: string): Promise<void> {
    return this.writing(key, () => this.inner.delete(key));
  }

  private async read(key: string, variant: string, fetch: () => Promise<Uint8Array>, sha256: string | undefined): Promise<Uint8Array> {
    checkKey(key);
    await this.scan();
    const directory = this.directoryOf(key);
    const hit = await this.lookup(`${directory}/${variant}`, sha256);
    if (hit !== undefined) {
      this.stats.hits += 1;
      return hit;
    }
    this.stats.misses += 1;
    const writesBefore = this.writes;
    const bytes = await fetch();
    if (sha256 !== undefined && sha256Hex(bytes) !== sha256.toLowerCase()) {
      throw new FkdError('E_CORRUPT_SHARD', `${this.location} key ${key} (${variant === 'full' ? 'whole object' : `bytes at ${variant.replace('-', ', length ')}`}) does not match its expected SHA-256. The object changed after the manifest was written, or is corrupt; re-run the command that wrote it.`, { path: key });
    }
    if (this.writes !== writesBefore) return bytes;
    try {
      await this.store(directory, variant, bytes);
    } catch {
      // Caching is an optimisation; a full disk must not fail the read.
      this.stats.writeErrors += 1;
    }
    // A put or delete that started while we were writing may have already forgotten the key.
    if (this.writes !== writesBefore) await this.remove(`${directory}/${variant}`);
    return bytes;
  }

  private async lookup(id: string, sha256: string | undefined): Promise<Uint8Array | undefined> {
    const size = this.entries.get(id);
    if (size === undefined) return undefined;
    const file = this.fileOf(id, size);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      this.drop(id); // evicted by another process sharing the directory
      return undefined;
    }
    if (bytes.length !== size || (sha256 !== undefined && sha256Hex(bytes) !== sha256.toLowerCase())) {
      this.stats.discarded += 1;
      await this.remove(id);
      return undefined;
    }
    this.entries.delete(id);
    this.entries.set(id, size);
    const now = new Date();
    await utimes(file, now, now).catch(() => undefined);
    return bytes;
  }

  private async store(directory: string, variant: string, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.maxBytes) return;
    const id = `${directory}/${variant}`;
    const file = this.fileOf(id, bytes.length);
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await mkdir(join(this.cacheDir, directory), { recursive: true });
    try {
      await writeFile(temp, bytes);
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    // A concurrent read of the same range may have cached it meanwhile (count it once), and a
    // whole object may come back with a new size, leaving its old file under another name.
    const previous = this.entries.get(id);
    if (previous !== undefined) {
      this.drop(id);
      if (previous !== bytes.length) await rm(this.fileOf(id, previous), { force: true });
    }
    this.entries.set(id, bytes.length);
    this.totalBytes += bytes.length;
    await this.evict();
  }

  private async evict(): Promise<void> {
    for (const id of this.entries.keys()) {
      if (this.totalBytes <= this.maxBytes) return;
      this.stats.evictions += 1;
      await this.remove(id);
    }
  }

  /** Drops every cached read of a key, after the key was written or deleted through us. */
  private async forget(key: string): Promise<void> {
    await this.scan();
    const directory = this.directoryOf(key);
    for (const id of [...this.entries.keys()]) {
      if (id.startsWith(`${directory}/`)) this.drop(id);
    }
    // File by file, not `rm -r`: a concurrent read may be renaming a file into the directory.
    const names = await readdir(join(this.cacheDir, directory)).catch(() => [] as string[]);
    await Promise.all(names.filter((name) => ENTRY_NAME.test(name)).map((name) => rm(join(this.cacheDir, directory, name), { force: true })));
  }

  private async remove(id: string): Promise<void> {
    const size = this.entries.get(id);
    if (size === undefined) return;
    this.drop(id);
    // The key's directory stays: removing it here would race with a read about to write into
    // it. Empty ones are tidied by the next scan.
    await rm(this.fileOf(id, size), { force: true });
  }

  private drop(id: string): void {
    const size = this.entries.get(id);
    if (size === undefined) return;
    this.entries.delete(id);
    this.totalBytes -= size;
  }

  /** Learns what an earlier run left in the directory, oldest use first. */
  private scan(): Promise<void> {
    this.scanned ??= (async () => {
      try {
        await mkdir(this.cacheDir, { recursive: true });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
        throw new FkdError('E_IO', `Cannot use ${this.cacheDir} as a cache directory (${code}). Point cacheDir at a writable directory.`, { cause: error, path: this.cacheDir });
      }
      const found: Array<{ id: string; size: number; used: number }> = [];
      // Only names this class writes are touched: a mistyped cacheDir must not cost anyone files.
      for (const directory of await readdir(this.cacheDir)) {
        if (!KEY_DIRECTORY.test(directory)) continue;
        const names = await readdir(join(this.cacheDir, directory)).catch(() => undefined);
        if (names?.length === 0) await rmdir(join(this.cacheDir, directory)).catch(() => undefined);
        for (const name of names ?? []) {
          const path = join(this.cacheDir, directory, name);
          const temp = TEMP_NAME.test(name);
          const match = ENTRY_NAME.exec(name);
          const info = temp || match !== null ? await stat(path).catch(() => undefined) : undefined;
          if (info === undefined || !info.isFile()) continue;
          if (temp) {
            if (Date.now() - info.mtimeMs > STALE_TEMP_MS) await rm(path, { force: true });
            continue;
          }
          const size = Number(match?.[2]);
          const variant = match?.[1] ?? '';
          if (info.size !== size || (variant !== 'full' && !variant.endsWith(`-${size}`))) {
            this.stats.discarded += 1;
            await rm(path, { force: true });
            continue;
          }
          found.push({ id: `${directory}/${variant}`, size, used: info.mtimeMs });
        }
      }
      found.sort((a, b) => a.used - b.used);
      for (const entry of found) {
        // Two processes may have cached one object at two sizes; the newer one wins.
        if (this.entries.has(entry.id)) await this.remove(entry.id);
        this.entries.set(entry.id, entry.size);
        this.totalBytes += entry.size;
      }
      await this.evict();
    })();
    return this.scanned;
  }

  private directoryOf(key: string): string {
    return createHash('sha256').update(`${this.inner.location}\n${key}`).digest('hex').slice(0, 32);
  }

  private fileOf(id: string, size: number): string {
    return join(this.cacheDir, `${id}.${size}`);
  }
}
