import { FkdError } from '../errors.js';
import { parseStrictJson } from '../io/strict-json.js';
import { serializeConfig, type LabelConfig } from './config.js';
import type { StoreDriver } from '../storage/driver.js';
import { sha256Hex } from '../io/hash.js';
import { CONFIG_KEY, shardEntryKey, shardKey } from './layout.js';
import { describe } from './format/validate.js';
import type { ShardEntry, SkippedImage } from './manifest.js';
import type { ShardPlan, Slice } from './shards.js';

/**
 * The JSON written next to a finished shard. Its presence is the shard's commit mark:
 * it is written only after the shard object is complete.
 */
export interface ShardEntryFile {
  /** sha256 of the `config.json` the shard was made under. */
  configSha256: string;
  /** Engine and backend that labelled this shard, e.g. `onnx/cpu`. */
  backend: string;
  /** The worker slice that wrote it, so `finalize` can name the slices that owe shards. */
  slice: Slice;
  shard: ShardEntry;
  skipped: SkippedImage[];
}

export function configSha256(config: LabelConfig): string {
  return sha256Hex(new TextEncoder().encode(serializeConfig(config)));
}

export function parseShardEntry(bytes: Uint8Array, key: string): ShardEntryFile {
  try {
    // The same strict JSON as the manifest: the entry becomes part of it.
    const entry = parseStrictJson(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)) as ShardEntryFile;
    if (typeof entry.configSha256 !== 'string' || typeof entry.shard?.layout?.sha256 !== 'string' || !Array.isArray(entry.skipped)) {
      throw new Error('missing fields');
    }
    // An entry describes the shard its name says; otherwise its shard would count as missing, and no message would name this file.
    const named = Number(/(\d+)\.json$/.exec(key)?.[1]);
    if (entry.shard.index !== named || entry.shard.key !== shardKey(named)) {
      throw new Error(`it describes shard ${describe(entry.shard.index)} at ${describe(entry.shard.key)}, not shard ${named} at ${shardKey(named)}`);
    }
    return entry;
  } catch (error) {
    throw new FkdError('E_CORRUPT_SHARD', `Shard entry ${key} is unreadable (${(error as Error).message}). Delete it and re-run the label command to remake that shard.`, { path: key, cause: error });
  }
}

/**
 * The entry of a shard that is already finished and intact, or null when the shard must be
 * (re)made. A shard whose bytes no longer match its entry is made again, not trusted.
 */
export async function readShardEntry(store: StoreDriver, shard: ShardPlan, config: LabelConfig): Promise<ShardEntryFile | null> {
  const key = shardEntryKey(shard.index);
  if (!(await store.head(key))) return null;
  const entry = parseShardEntry(await store.get(key), key);
  if (entry.configSha256 !== configSha256(config)) {
    throw new FkdError('E_OPTIONS_MISMATCH', `${store.location}/${key} was made with other settings than ${store.location}/${CONFIG_KEY}. Use a new out.`, { path: key, key, option: 'out' });
  }
  const layout = entry.shard.layout;
  const head = await store.head(entry.shard.key);
  if (head?.size === layout.bytes && sha256Hex(await store.get(entry.shard.key)) === layout.sha256) return entry;
  await store.delete(key);
  return null;
}
