import { fileURLToPath } from 'node:url';
import { FkdError } from '../errors.js';
import type { StoreDriver } from './driver.js';
import { FsStore } from './fs.js';
import type { S3StoreOptions } from './s3.js';

/**
 * Options for opening a location, one entry per URL scheme: each driver receives its own entry
 * and nothing else, so a local directory never sees S3 settings.
 *
 * @example
 * await openStore('s3://team-kd/in1k', { s3: { endpoint: 'http://127.0.0.1:9000', maxAttempts: 8 } });
 */
export interface OpenStoreOptions {
  /**
   * For `s3://` locations: endpoint and path-style addressing, region, retries (`maxAttempts`,
   * `retryMode`) and timeouts (`connectionTimeoutMs`, `requestTimeoutMs`). Unset options fall
   * back to environment variables; see `S3StoreOptions`.
   */
  s3?: S3StoreOptions | undefined;
}

/**
 * Opens the store a `scheme://…` location names. A registered driver takes its settings when it
 * is registered (in the closure), since `OpenStoreOptions` has entries for fkd's own schemes only.
 */
export type DriverFactory = (location: string) => Promise<StoreDriver>;

/** A built-in driver: it picks its own entry out of the options. */
type BuiltInFactory = (location: string, options: OpenStoreOptions) => Promise<StoreDriver>;

/**
 * Drivers by URL scheme (lower case, without `://`). A location without a scheme is a local
 * directory. Heavy SDKs are imported inside their factory, so local use never loads the AWS SDK.
 */
const drivers = new Map<string, BuiltInFactory>([
  ['file', async (location) => new FsStore(fileURLToPath(location))],
  [
    's3',
    async (location, options) => {
      const { S3Store } = await import('./s3.js');
      return new S3Store(location, options.s3);
    },
  ],
]);

/**
 * Adds (or replaces) the driver for a URL scheme, so `openStore`, `openLabels` and the CLI
 * accept `scheme://…` locations.
 *
 * @example
 * registerStoreDriver('mem', async (location) => new MemoryStore(location));
 */
export function registerStoreDriver(scheme: string, factory: DriverFactory): void {
  if (!/^[a-z][a-z0-9+.-]*$/i.test(scheme)) throw new FkdError('E_USAGE', `Expected a URL scheme such as "s3" but received "${scheme}".`);
  drivers.set(scheme.toLowerCase(), (location) => factory(location));
}

/**
 * Opens the store a location names: `s3://bucket/prefix` gives an S3 store, a path or
 * `file://` URL a local directory, and any scheme added with `registerStoreDriver` its driver.
 *
 * @example
 * const store = await openStore(process.argv[2] ?? './labels');
 * const manifest = await store.get('manifest.json');
 */
export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<StoreDriver> {
  const scheme = schemeOf(location);
  if (scheme === undefined) return new FsStore(location);
  const factory = drivers.get(scheme.toLowerCase());
  // `gs://bucket` would otherwise become a local directory called "gs:", silently.
  if (!factory) {
    const known = [...drivers.keys()].sort().map((name) => `${name}://`).join(' or ');
    throw new FkdError('E_USAGE', `Expected a directory, ${known} store location but received "${location}".`, { path: location });
  }
  return factory(location, options);
}

/**
 * The directory a location names when it is local (a path or `file://` URL), else `null`.
 *
 * @example
 * localPathOf('labels');         // 'labels'
 * localPathOf('s3://b/labels');  // null
 */
export function localPathOf(location: string): string | null {
  const scheme = schemeOf(location);
  if (scheme === undefined) return location;
  return scheme.toLowerCase() === 'file' ? fileURLToPath(location) : null;
}

function schemeOf(location: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1];
}
