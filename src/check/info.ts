import { isLabelStoreKey } from '../store/layout.js';
import { openLabels, type OpenLabelsOptions } from '../store/labels.js';

export interface StoreInfo {
  location: string;
  /** Format version of the store (docs/FORMAT.md §2.1). */
  format: number;
  /** SHA-256 of manifest.json's bytes, the value that pins the store (`openLabels(url, { sha256 })`); null while it has none. */
  manifestSha256: string | null;
  complete: boolean;
  images: number;
  records: number;
  epochs: number;
  crops: number;
  topK: number;
  classes: number;
  teacher: { file: string; sha256: string; engine: string; backend: string; inputSize: number; temperature: number };
  shards: { present: number; expected: number };
  /** Every object of the store: shards, their entries, config and manifest. */
  totalBytes: number;
  /** `totalBytes / records`: the real cost of a record, framing and metadata included. */
  bytesPerRecord: number;
  skipped: Array<{ path: string; reason: string }>;
}

/**
 * Summarises a label store, finished or not.
 *
 * @example
 * const info = await storeInfo('./labels');
 * console.log(info.bytesPerRecord);
 */
export async function storeInfo(location: string, options: OpenLabelsOptions = {}): Promise<StoreInfo> {
  const labels = await openLabels(location, { ...options, allowIncomplete: true });
  const m = labels.manifest;
  const objects = await labels.store.list('');
  const totalBytes = objects.filter((o) => isLabelStoreKey(o.key)).reduce((sum, o) => sum + o.size, 0);
  const expected = Math.ceil(m.dataset.images / m.shardImages);
  return {
    location: labels.location,
    format: m.version,
    manifestSha256: labels.manifestSha256 ?? null,
    complete: m.complete,
    images: m.dataset.images,
    records: m.totals.records,
    epochs: m.sampler.epochs,
    crops: m.sampler.crops,
    topK: m.codec.topK,
    classes: m.dataset.classes.length,
    teacher: { file: m.teacher.file, sha256: m.teacher.sha256, engine: m.teacher.engine, backend: m.teacher.backend, inputSize: m.teacher.inputSize, temperature: m.teacher.temperature },
    shards: { present: m.shards.length, expected },
    totalBytes,
    bytesPerRecord: m.totals.records === 0 ? 0 : totalBytes / m.totals.records,
    skipped: m.dataset.skipped.map(({ path, reason }) => ({ path, reason })),
  };
}
