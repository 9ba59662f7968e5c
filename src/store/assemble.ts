import { existsSync } from 'node:fs';
import pLimit from 'p-limit';
import { FkdError, isFkdError } from '../errors.js';
import type { LabelConfig } from './config.js';
import type { StoreDriver } from '../storage/driver.js';
import { localPathOf } from '../storage/open.js';
import { configSha256, parseShardEntry, type ShardEntryFile } from './entry.js';
import { CONFIG_KEY, isShardEntryKey, MANIFEST_KEY, SHARDS_PREFIX } from './layout.js';
import { StrictJsonError, parseStrictJson } from '../io/strict-json.js';
import { BOXES_FROM, TOOL_VERSION, loadManifest, type Manifest } from './manifest.js';
import { planShards, sliceOfShard } from './shards.js';
import { readScanRecord } from './scan-record.js';


export interface AssembleOptions {
  /** Worker count of the sharded run, used to name the slices that are missing. */
  slices?: number;
  /** Return a manifest with `complete: false` instead of refusing when shards are missing. */
  allowMissing?: boolean;
}

/**
 * Builds the manifest from `config.json` and the shard entries present now. Readers use it
 * with `allowMissing` to look at a store whose run has not finished.
 */
export async function assembleManifest(store: StoreDriver, options: AssembleOptions = {}): Promise<Manifest> {
  if (!(await store.head(CONFIG_KEY))) throw noLabelRun(store);
  const config = await readConfig(store);
  const expectedConfig = configSha256(config);
  const objects = await store.list(SHARDS_PREFIX);
  const sizes = new Map(objects.map((object) => [object.key, object.size]));
  const entries = new Map<number, ShardEntryFile>();
  let slices = options.slices;
  // Entries are small; on object storage each GET costs a round trip, so fetch them in parallel
  // (ImageNet at 1000 images per shard has 1,282) and check them in key order.
  const entryKeys = objects.filter((object) => isShardEntryKey(object.key)).map((object) => object.key);
  const limit = pLimit(16);
  const fetched = await Promise.all(entryKeys.map((key) => limit(() => store.get(key))));
  for (const [i, key] of entryKeys.entries()) {
    const entry = parseShardEntry(fetched[i]!, key);
    if (entry.configSha256 !== expectedConfig) {
      throw new FkdError('E_OPTIONS_MISMATCH', `${store.location}/${key} was made with other settings than ${CONFIG_KEY}. Delete it and re-run that worker.`, { path: key });
    }
    if (sizes.get(entry.shard.key) !== entry.shard.layout.bytes) {
      throw new FkdError('E_CORRUPT_SHARD', `${store.location}/${entry.shard.key} is missing or has the wrong size for its entry ${key}. Re-run the worker that owns shard ${entry.shard.index}.`, { path: entry.shard.key });
    }
    entries.set(entry.shard.index, entry);
    slices ??= entry.slice.count;
  }
  const plan = planShards(config.dataset.images, config.shardImages);
  const missing = plan.filter((shard) => !entries.has(shard.index)).map((shard) => shard.index);
  if (missing.length > 0 && !options.allowMissing) {
    const owners = slices ? [...new Set(missing.map((index) => sliceOfShard(index, slices)))] : [];
    const shown = missing.slice(0, 20).join(', ') + (missing.length > 20 ? `, … (${missing.length} in all)` : '');
    throw new FkdError(
      'E_MISSING_SLICES',
      `${store.location} is not complete: ${missing.length} of ${plan.length} shards are missing (${shown}).` +
        // The owners may still be running: finalize cannot tell, so it must not say "re-run".
        (owners.length
          ? ` They belong to worker slices ${owners.map((owner) => `${owner}/${slices}`).join(', ')}: wait for those still running, re-run any that stopped, then finalize again.`
          : ' Wait for the label workers that own them to finish (re-run any that stopped), then finalize again.'),
      { path: store.location },
    );
  }
  const ordered = plan.flatMap((shard) => entries.get(shard.index) ?? []);
  const previous = (await store.head(MANIFEST_KEY)) ? await loadManifest(store) : null;
  const backends = [...new Set(ordered.map((entry) => entry.backend))].sort();
  const scan = await readScanRecord(store);
  const manifest: Manifest = {
    format: 'fkd-labels',
    // The shards' format is the run's: a store begun by a format 1 fkd is finalized as format 1.
    version: config.version,
    requires: config.boxesFrom ? [BOXES_FROM] : [],
    ...(config.boxesFrom ? { boxesFrom: config.boxesFrom } : {}),
    complete: missing.length === 0,
    createdAt: previous?.createdAt ?? new Date().toISOString(),
    tool: { name: 'fkd', version: TOOL_VERSION },
    dataset: {
      images: config.dataset.images,
      classes: config.dataset.classes,
      fingerprint: config.dataset.fingerprint,
      skipped: ordered.flatMap((entry) => entry.skipped),
    },
    teacher: { ...config.teacher, backend: backends.join(',') },
    sampler: config.sampler,
    codec: config.codec,
    shardImages: config.shardImages,
    shards: ordered.map((entry) => entry.shard),
    totals: {
      records: ordered.reduce((sum, entry) => sum + entry.shard.records, 0),
      bytes: ordered.reduce((sum, entry) => sum + entry.shard.layout.bytes, 0),
    },
    ...(scan === null ? {} : { scan }),
  };
  return manifest;
}

/**
 * The error for a location where no label run ever started: a local path that does not
 * exist says so (`E_IO`), anything else has no `config.json` (`E_INCOMPLETE_STORE`).
 */
export function noLabelRun(store: StoreDriver): FkdError {
  const local = localPathOf(store.location);
  if (local !== null && !existsSync(local)) {
    return new FkdError('E_IO', `${store.location} does not exist, so there is no label store there. Check the path.`, { path: store.location });
  }
  return new FkdError('E_INCOMPLETE_STORE', `${store.location} has no ${CONFIG_KEY}: no label run has started there. Check the path or URL.`, { path: store.location });
}

/** `config.json`, strictly parsed; a damaged one is named, with what to do. */
async function readConfig(store: StoreDriver): Promise<LabelConfig> {
  const where = `${store.location}/${CONFIG_KEY}`;
  try {
    const value = parseStrictJson(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(await store.get(CONFIG_KEY)));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StrictJsonError('it is not a JSON object');
    return value as LabelConfig;
  } catch (error) {
    if (isFkdError(error)) throw error;
    throw new FkdError('E_CORRUPT_MANIFEST', `${where} is corrupt (${(error as Error).message}). It records the settings of the label run: restore it, or delete the store and start the run again.`, { path: where, cause: error });
  }
}
