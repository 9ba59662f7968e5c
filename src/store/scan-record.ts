import { CLUTTER_EXCLUSIONS, type ExclusionLog } from '../dataset/exclusions.js';
import { FkdError } from '../errors.js';
import type { StoreDriver } from '../storage/driver.js';
import { parseStrictJson } from '../io/strict-json.js';
import { SCAN_KEY } from './layout.js';
import { MANIFEST_SCAN_ENTRIES, parseManifestScan, type ManifestScan } from './manifest.js';

/**
 * The scan's exclusions as the manifest keeps them: every count, and `MANIFEST_SCAN_ENTRIES`
 * entries, those a user would want to fix (bad entries, empty classes) before the clutter
 * (hidden files, other extensions), each group in scan order.
 *
 * @example
 * scanRecordOf(dataset.excluded); // { excluded: 3, counts: { hidden: 3 }, entries: [...] }
 */
export function scanRecordOf(log: ExclusionLog): ManifestScan {
  const notable = log.entries.filter((entry) => !CLUTTER_EXCLUSIONS.has(entry.kind));
  const rest = log.entries.filter((entry) => CLUTTER_EXCLUSIONS.has(entry.kind));
  return { excluded: log.total, counts: { ...log.counts }, entries: [...notable, ...rest].slice(0, MANIFEST_SCAN_ENTRIES) };
}

/**
 * Writes `scan.json`, or removes a stale one when nothing was excluded (a store of a clean
 * tree has none, so its bytes are what they were before the scan was recorded). Every
 * worker of a run scans the same tree, so each may write it; the write is atomic and the
 * last one stands.
 */
export async function writeScanRecord(store: StoreDriver, record: ManifestScan): Promise<void> {
  // Head first: a DELETE on every clean run would need delete permission for nothing.
  if (record.excluded === 0) {
    if (await store.head(SCAN_KEY)) await store.delete(SCAN_KEY);
  } else await store.put(SCAN_KEY, new TextEncoder().encode(`${JSON.stringify(record, null, 2)}\n`));
}

/** `scan.json`, validated; `null` for stores written before it existed. */
export async function readScanRecord(store: StoreDriver): Promise<ManifestScan | null> {
  if (!(await store.head(SCAN_KEY))) return null;
  const where = `${store.location}/${SCAN_KEY}`;
  let value: unknown;
  try {
    value = parseStrictJson(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(await store.get(SCAN_KEY)));
  } catch (error) {
    throw new FkdError('E_CORRUPT_MANIFEST', `${where} is not valid JSON (${(error as Error).message}). Re-run the same \`fkd label\` command to rewrite it.`, { path: where, cause: error });
  }
  return parseManifestScan(value, where);
}
