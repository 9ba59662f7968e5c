import { fileURLToPath } from 'node:url';
import { FkdError } from '../errors.js';
import type { StoreDriver } from './driver.js';
import { FsStore } from './fs.js';
import type { S3StoreOptions } from './s3.js';

/**
 * Options for S3 stores (ignored for local directories): endpoint and path-style addressing,
 * region, retries (`maxAttempts`, `retryMode`) and timeouts (`connectionTimeoutMs`,
 * `requestTimeoutMs`). Unset options fall back to environment variables; see `S3StoreOptions`.
 */
export type OpenStoreOptions = S3StoreOptions;

/**
 * Opens the store a location names: `s3://bucket/prefix` gives an S3 store, a path or
 * `file://` URL a local directory. The AWS SDK is imported only for `s3://`, so local use
 * never pays for loading it.
 *
 * @example
 * const store = await openStore(process.argv[2] ?? './labels');
 * const manifest = await store.get('manifest.json');
 */
export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<StoreDriver> {
  if (/^s3:\/\//i.test(location)) {
    const { S3Store } = await import('./s3.js');
    return new S3Store(location, options);
  }
  if (/^file:\/\//i.test(location)) return new FsStore(fileURLToPath(location));
  // `gs://bucket` would otherwise become a local directory called "gs:", silently.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new FkdError('E_USAGE', `Expected a directory, file:// or s3:// store location but received "${location}".`, { path: location });
  }
  return new FsStore(location);
}
