import { FkdError, isFkdError } from '../errors.js';
import type { CodecDescription } from '../labels/codec.js';
import { createIfAbsent, type StoreDriver } from '../storage/driver.js';
import { CONFIG_KEY } from './layout.js';
import { BOXES_FROM, serializeManifest, type BoxesFrom, type FormatVersion, type ManifestDataset, type ManifestSampler, type ManifestTeacher } from './manifest.js';

/**
 * Everything that decides a label set's bytes. It is written to `config.json` when a
 * run starts, so a resumed or parallel worker with different options is refused instead
 * of mixing incompatible shards. The manifest repeats it.
 */
export interface LabelConfig {
  format: 'fkd-labels-config';
  /** The format version of the shards the run writes (a run is resumed only by the same version). */
  version: FormatVersion;
  dataset: Omit<ManifestDataset, 'skipped'>;
  /** The backend is not part of the identity: workers on different devices may share a store. */
  teacher: Omit<ManifestTeacher, 'backend'>;
  sampler: ManifestSampler;
  codec: CodecDescription;
  /** `fkd label --like`: the store whose crops are labelled again; its shards then hold labels only. */
  boxesFrom?: BoxesFrom;
  shardImages: number;
}

export function serializeConfig(config: LabelConfig): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * Runs the manifest's own validator over a config before it is written, on an empty
 * manifest made from it: any value the finished manifest would refuse (a seed past 2^53,
 * a scale above 1) is refused now, not at finalize after the whole pass.
 *
 * @example
 * checkConfig(config); // throws E_USAGE naming the field, or returns
 */
export function checkConfig(config: LabelConfig): void {
  try {
    serializeManifest({
      format: 'fkd-labels',
      version: config.version,
      requires: config.boxesFrom ? [BOXES_FROM] : [],
      ...(config.boxesFrom ? { boxesFrom: config.boxesFrom } : {}),
      complete: false,
      createdAt: new Date(0).toISOString(),
      tool: { name: 'fkd', version: 'check' },
      dataset: { ...config.dataset, skipped: [] },
      teacher: { ...config.teacher, backend: 'check' },
      sampler: config.sampler,
      codec: config.codec,
      shardImages: config.shardImages,
      shards: [],
      totals: { records: 0, bytes: 0 },
    });
  } catch (error) {
    if (!isFkdError(error)) throw error;
    throw new FkdError('E_USAGE', `These label options would make a store that cannot be finalized: ${error.details.reason ?? error.message}.`, { cause: error });
  }
}

/** Lists the settings that differ, as `path: stored → requested`. */
export function configDifferences(stored: unknown, requested: unknown, path = ''): string[] {
  if (typeof stored === 'object' && stored !== null && typeof requested === 'object' && requested !== null) {
    const keys = new Set([...Object.keys(stored), ...Object.keys(requested)]);
    return [...keys].flatMap((key) =>
      configDifferences((stored as Record<string, unknown>)[key], (requested as Record<string, unknown>)[key], path ? `${path}.${key}` : key),
    );
  }
  if (JSON.stringify(stored) === JSON.stringify(requested)) return [];
  const show = (value: unknown): string => {
    const text = JSON.stringify(value) ?? 'missing';
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  };
  return [`${path}: ${show(stored)} → ${show(requested)}`];
}

/** Refuses to continue a store that was started with other options. */
export function assertSameConfig(storedText: string, requested: LabelConfig, location: string): void {
  let stored: unknown;
  try {
    stored = JSON.parse(storedText);
  } catch (error) {
    throw new FkdError('E_CORRUPT_MANIFEST', `${location}/${CONFIG_KEY} is not valid JSON. Delete the store and start again.`, { path: `${location}/${CONFIG_KEY}`, cause: error });
  }
  const differences = configDifferences(stored, requested);
  if (differences.length > 0) {
    throw new FkdError(
      'E_OPTIONS_MISMATCH',
      `${location} holds labels made with other settings:\n  ${differences.join('\n  ')}\nUse the same data, teacher and options to resume, or a new out.`,
      { path: location, option: 'out' },
    );
  }
}

/**
 * Claims a store for a run's settings: `config.json` is created exclusively (an fs hard
 * link, claim marks and a conditional put on S3; see the drivers' `putIfAbsent`), so of two runs starting at
 * once on one store exactly one writes it. Every other run, then or later, must bring the
 * same settings, else `E_OPTIONS_MISMATCH` names the ones that differ.
 *
 * @example
 * await claimConfig(await openStore('labels'), config);
 */
export async function claimConfig(store: StoreDriver, config: LabelConfig): Promise<void> {
  const bytes = new TextEncoder().encode(serializeConfig(config));
  if (!(await createIfAbsent(store, CONFIG_KEY, bytes))) assertSameConfig(new TextDecoder().decode(await store.get(CONFIG_KEY)), config, store.location);
}
