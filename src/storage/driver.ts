/** Per-read options every driver accepts. */
export interface ReadOptions {
  /**
   * Expected SHA-256 of the returned bytes, lowercase hex. Drivers that keep copies (the disk
   * cache) use it to refuse a stale or corrupt copy; drivers that read the object itself may
   * ignore it, since the caller verifies what it reads anyway.
   */
  sha256?: string | undefined;
}

/**
 * The few operations the label store needs from a place that holds bytes. A driver
 * confines keys to its root and makes `put` atomic: a reader sees the old object, the
 * new one, or none, never part of one.
 */
export interface StoreDriver {
  /** Where this store lives, for messages: a directory path or an `s3://bucket/prefix` URL. */
  readonly location: string;
  get(key: string, options?: ReadOptions): Promise<Uint8Array>;
  getRange(key: string, offset: number, length: number, options?: ReadOptions): Promise<Uint8Array>;
  put(key: string, data: Uint8Array): Promise<void>;
  /**
   * Writes `data` only if nothing is stored under `key`, atomically: `true` if this call
   * created the object, `false` if one was there (or another writer's won). Of racing writers
   * with different bytes at most one gets `true`; writers with identical bytes may each get it.
   * Drivers that lack it make callers fall back to head-then-put, which two writers can both pass.
   */
  putIfAbsent?(key: string, data: Uint8Array): Promise<boolean>;
  /** Size of an object, or null when it does not exist. */
  head(key: string): Promise<{ size: number } | null>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<Array<{ key: string; size: number }>>;
  delete(key: string): Promise<void>;
}

/**
 * `store.putIfAbsent` where the driver has it; otherwise head-then-put, which is not
 * exclusive (two writers can both pass the head), for drivers that cannot do better.
 *
 * @example
 * if (!(await createIfAbsent(store, 'config.json', bytes))) compareWithStored();
 */
export async function createIfAbsent(store: StoreDriver, key: string, data: Uint8Array): Promise<boolean> {
  if (store.putIfAbsent) return store.putIfAbsent(key, data);
  if ((await store.head(key)) !== null) return false;
  await store.put(key, data);
  return true;
}
