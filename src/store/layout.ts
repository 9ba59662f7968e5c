// Every key a label store holds, named once. Writers, readers, `finalize` and `fkd info` take
// their key names from here.

/** The index of a finished label store, written last. */
export const MANIFEST_KEY = 'manifest.json';

/** The run's settings, written first; every worker of the run must bring the same. */
export const CONFIG_KEY = 'config.json';

/** What the dataset scan passed over, written by every label run; finalize copies it into the manifest. */
export const SCAN_KEY = 'scan.json';

/** Prefix of every shard object and shard entry. */
export const SHARDS_PREFIX = 'shards/';

const SHARD_SUFFIX = '.fkd';
const SHARD_ENTRY_SUFFIX = '.json';

function shardName(index: number): string {
  return `${SHARDS_PREFIX}${String(index).padStart(6, '0')}`;
}

/** Shard object key, zero-padded so keys sort in shard order. */
export function shardKey(index: number): string {
  return `${shardName(index)}${SHARD_SUFFIX}`;
}

/** Key of the small JSON entry written after a shard, marking it finished. */
export function shardEntryKey(index: number): string {
  return `${shardName(index)}${SHARD_ENTRY_SUFFIX}`;
}

/** True for a key `shardEntryKey` can produce (or a hand-made one in the same place). */
export function isShardEntryKey(key: string): boolean {
  return key.startsWith(SHARDS_PREFIX) && key.endsWith(SHARD_ENTRY_SUFFIX);
}

/** True for the keys a label run writes: what `fkd info` counts as the store's size. */
export function isLabelStoreKey(key: string): boolean {
  return key === CONFIG_KEY || key === MANIFEST_KEY || key === SCAN_KEY || key.startsWith(SHARDS_PREFIX);
}
