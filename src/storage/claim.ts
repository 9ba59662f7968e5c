import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FkdError } from '../errors.js';
import type { StoreDriver } from './driver.js';

/** Where claim marks live: outside every key a label store uses, so listings of those never see them. */
export const CLAIMS_PREFIX = '.fkd-claims/';

/** What the claim needs from an object store: single-object writes and a listing that sees every finished write. */
export type ClaimStore = Pick<StoreDriver, 'location' | 'head' | 'put' | 'list' | 'delete'>;

/** The final write of the object: a conditional put where the server has one; false when it refused. */
export type CreateObject = (key: string, data: Uint8Array) => Promise<boolean>;

export interface ClaimOptions {
  /** Rounds before giving up on rivals that never leave, or on refused creates whose object never appears; each waits a random time up to `baseDelayMs × 2^round`. */
  attempts?: number;
  baseDelayMs?: number;
}

/**
 * Creates `key` with `data` unless it exists, with no help from the server beyond
 * read-after-write consistency (S3 has it; a conditional put is used too, but servers such as
 * s3rver and older S3-compatible stores ignore `If-None-Match`).
 *
 * Each writer puts a mark `.fkd-claims/<key>/<sha256 of data>.<random>`, lists the marks,
 * and writes the object only if every mark it sees carries its own digest and the object is
 * still absent; it deletes its mark after writing. Of two writers with different bytes, the
 * one whose mark came second sees the first's mark (or, once that is deleted, the object), so
 * both cannot write. When each sees the other, both withdraw and retry after a random wait.
 * Writers with identical bytes never block each other (a Job's pods all bring one config), and
 * each returns true unless the conditional put refused it.
 *
 * Returns true when this call wrote the object, false when the object exists (a refused
 * create counts only once the object is there to be read).
 *
 * @example
 * const created = await claimObject(store, (key, data) => conditionalPut(key, data), 'config.json', bytes);
 */
export async function claimObject(store: ClaimStore, create: CreateObject, key: string, data: Uint8Array, options: ClaimOptions = {}): Promise<boolean> {
  const attempts = options.attempts ?? 8;
  const baseDelayMs = options.baseDelayMs ?? 50;
  const marks = `${CLAIMS_PREFIX}${key}/`;
  const digest = createHash('sha256').update(data).digest('hex');
  let rivals: string[] = [];
  for (let round = 0; round < attempts; round += 1) {
    if ((await store.head(key)) !== null) return false;
    const mark = `${marks}${digest}.${randomUUID()}`;
    await store.put(mark, new Uint8Array(0));
    let created: boolean | undefined;
    try {
      rivals = (await store.list(marks)).map((entry) => entry.key).filter((seen) => !seen.startsWith(`${marks}${digest}.`));
      // The second head catches a writer that wrote the object and deleted its mark before our listing.
      if ((await store.head(key)) !== null) return false;
      if (rivals.length === 0) created = await create(key, data);
    } finally {
      await store.delete(mark);
    }
    if (created === true) return true;
    // A refused create means another writer has the key, unless its write never lands (S3's 409
    // answers a conditional put while another is in flight): then the key is open again.
    if (created === false && (await store.head(key)) !== null) return false;
    await sleep(Math.random() * baseDelayMs * 2 ** round);
  }
  const why =
    rivals.length > 0
      ? `another writer was claiming it with other bytes (${rivals.map((rival) => `${store.location}/${rival}`).join(', ')}). If no other run is starting on this store, those marks were left by a run killed while claiming it: delete them and run again.`
      : `the server refused the write as if another writer had it, but the object never appeared. Check the endpoint's conditional-write support and run again.`;
  throw new FkdError('E_STORE', `Cannot create ${store.location}/${key}: ${attempts} times, ${why}`, { path: `${store.location}/${key}` });
}
