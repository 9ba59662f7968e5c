import pLimit from 'p-limit';
import { FkdError, isFkdError } from '../../errors.js';
import { assembleManifest, type AssembleOptions } from '../assemble.js';
import type { StoreDriver } from '../../storage/driver.js';
import { CONFIG_KEY, MANIFEST_KEY, shardEntryKey } from '../layout.js';
import { checkManifestFields, encodeManifest, type Manifest } from '../manifest.js';
import { checkShardObject } from '../shard-check.js';

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
  // The manifest's own checker, on what the entries say, before anything is written: a bad
  // entry is a bad input, named by file, never "a bug".
  checkAssembled(manifest, store.location);
  // What readers would refuse is refused here, before the long shard checks.
  const bytes = encodeManifest(manifest);
  // Sizes were checked while assembling; the hashes need the bytes. Each shard is read
  // and decoded whole, with every rule of the format and every cross-check with the
  // manifest, so a damaged shard is never sealed into a manifest.
  const limit = pLimit(4);
  await Promise.all(
    manifest.shards.map((shard) =>
      limit(async () => {
        try {
          await checkShardObject(store, manifest, shard);
        } catch (error) {
          if (!isFkdError(error, 'E_CORRUPT_SHARD')) throw error;
          // The reader's remedy (re-run the label command) is not finalize's: name what is wrong, then what to delete.
          const what = error.details.reason === undefined ? error.message : `${error.details.path ?? shard.key} is corrupt: ${error.details.reason}.`;
          throw new FkdError('E_CORRUPT_SHARD', `${what} Delete ${shardEntryKey(shard.index)} and re-run the worker that owns shard ${shard.index}, then finalize again.`, { path: shard.key, key: shard.key, shard: shard.index, cause: error });
        }
      }),
    ),
  );
  await store.put(MANIFEST_KEY, bytes);
  return manifest;
}

/** Validates an assembled manifest; a failure names what it was built from. */
function checkAssembled(manifest: Manifest, location: string): void {
  try {
    checkManifestFields(JSON.parse(JSON.stringify(manifest)), location);
  } catch (error) {
    if (!isFkdError(error)) throw error;
    const detail = error.details.reason === undefined ? error.message : `${error.details.reason}.`;
    throw new FkdError(
      'E_CORRUPT_SHARD',
      `The shard entries (shards/NNNNNN.json) and ${CONFIG_KEY} of ${location} do not make a valid manifest: ${detail} Delete the shard entries named there (or ${CONFIG_KEY}, to start over) and re-run the workers that own them.`,
      { path: location, cause: error },
    );
  }
}
