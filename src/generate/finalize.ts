import { assembleManifest, type AssembleOptions } from '../store/assemble.js';
import type { StoreDriver } from '../store/drivers/driver.js';
import { MANIFEST_KEY } from '../store/layout.js';
import { serializeManifest, type Manifest } from '../store/manifest.js';

export type FinalizeOptions = Pick<AssembleOptions, 'slices'>;

/**
 * Merges the finished shard entries into `manifest.json` once every shard exists. It
 * refuses, listing the missing shards and the worker slices that owe them, when any is
 * absent. Running it again rewrites the same manifest.
 *
 * @example
 * const manifest = await finalizeStore(await openStore('s3://team-kd/in1k'));
 */
export async function finalizeStore(store: StoreDriver, options: FinalizeOptions = {}): Promise<Manifest> {
  const manifest = await assembleManifest(store, options);
  await store.put(MANIFEST_KEY, new TextEncoder().encode(serializeManifest(manifest)));
  return manifest;
}
