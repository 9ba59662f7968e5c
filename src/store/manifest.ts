import { createRequire } from 'node:module';
import { FkdError, type FkdErrorCode } from '../errors.js';
import { CODEC_NAME, PROBABILITY_STEP_LN, type CodecDescription } from '../labels/codec.js';
import { TARGET_MODES } from '../labels/targets.js';
import type { OutputKind } from '../labels/probabilities.js';
import type { ClassMap } from '../labels/class-map.js';
import type { Layout } from '../crop/tensor.js';
import { EXCLUSION_KINDS, type ExcludedEntry, type ExclusionKind } from '../dataset/exclusions.js';
import type { StoreDriver } from '../storage/driver.js';
import { MAX_BLOCK_BYTES, MAX_EPOCH_RAW_BYTES, MAX_SHARD_BYTES, SHARD_MAGIC, classBytesFor, columnBytes, type BlockRef, type EpochBlockRef, type ShardLayout } from './format/columns.js';
import { JsonFloat, StrictJsonError, parseStrictJson } from '../io/strict-json.js';
import { pathProblem } from './format/validate.js';
import { isSha256Hex, sha256Hex } from '../io/hash.js';
import { checkKey } from '../storage/keys.js';
import { MANIFEST_KEY } from './layout.js';

/**
 * `manifest.json`, written last: the index of a label store. A store without it is still
 * being generated. docs/FORMAT.md describes every field; this module is the validator
 * every reader goes through, so a damaged or hostile manifest fails here with a clear
 * message instead of deep inside the loader.
 */

export const MANIFEST_FORMAT = 'fkd-labels';
/** This build's version, recorded as a manifest's `tool.version` and named in messages. */
export const TOOL_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
/** The manifest and shard format version this build writes. */
export const MANIFEST_VERSION = 2;
/** The versions this build reads: format 1 (no content hashes, no manifest integrity) and 2. */
export const READABLE_VERSIONS: readonly FormatVersion[] = [1, 2];
export type FormatVersion = 1 | 2;

/**
 * Features a format 2 manifest may list in `requires`, which a reader must understand to read
 * the store correctly. A reader refuses a store that requires anything it does not know, so a
 * later writer can add a field that changes the meaning of the data without old readers
 * silently ignoring it. This build knows one: `boxes-from` (BOXES_FROM).
 */
export const KNOWN_FEATURES: ReadonlySet<string> = new Set<string>(['boxes-from']);

/** The feature of a store whose epoch blocks hold labels only: its crops are another store's (`boxesFrom`). */
export const BOXES_FROM = 'boxes-from';

/**
 * Where a `boxes-from` store's crops are: the store whose boxes and flips its records share
 * (`fkd label --like`), and the digest of that store's epoch blocks (store/boxes-from.ts), so a
 * base that was relabelled or replaced is refused rather than paired with the wrong labels.
 */
export interface BoxesFrom {
  /** The base store's location as it was given to `--like` (a directory or s3:// URL). */
  store: string;
  digest: string;
}

/** How the manifest's self-hash ends the file: `"integrity": "<64 hex>"`, the last member. */
const INTEGRITY_TAIL = /"integrity": "([0-9a-f]{64})"\n\}\n$/;
const INTEGRITY_PLACEHOLDER = '0'.repeat(64);

/**
 * Largest `manifest.json` a reader accepts, checked before it is read. ImageNet-1k at 1000
 * images per shard and 300 label epochs makes a manifest of about 70 MB (1,282 shards ×
 * 300 block references of ~180 bytes); 256 MiB leaves room and still bounds the memory a
 * hand-made manifest can take.
 */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

/** Upper bounds on manifest fields with no natural limit, so no value makes a reader allocate without bound. */
export const MANIFEST_LIMITS = {
  /** Teacher input side, in pixels. */
  inputSize: 16384,
  /** |mean| and 1/std: normalisation beyond this turns pixels into infinities. */
  normalization: 1e6,
  /** Crops per image per label epoch. */
  crops: 65535,
  /** Label epochs. */
  epochs: 1_000_000,
  /** Teacher outputs behind a class map: 2^24, far beyond any classifier head. */
  teacherOutputs: 2 ** 24,
} as const;


/** An image the label pass could not use, and why. */
export interface SkippedImage {
  /** Dataset index of the image. */
  index: number;
  /** Path relative to the dataset root. */
  path: string;
  reason: string;
}

export interface ManifestDataset {
  images: number;
  /** Class names; a class index is a position in this list. */
  classes: string[];
  /** sha256 of the dataset listing, so labels are never paired with another dataset. */
  fingerprint: string;
  /** Images without records, ascending by index. */
  skipped: SkippedImage[];
}

/**
 * What the dataset scan passed over: entries of the tree that are not images of the dataset
 * (hidden files, other extensions, dangling links, FIFOs, empty classes, …). Not part of the
 * label set's identity; kept so a store says what its labels leave out. Manifests written
 * before it existed have no `scan`.
 */
export interface ManifestScan {
  /** Entries passed over, in all. */
  excluded: number;
  counts: Partial<Record<ExclusionKind, number>>;
  /** The first `MANIFEST_SCAN_ENTRIES` of them, in scan order. */
  entries: ExcludedEntry[];
}

/** Exclusions a manifest lists in full; the counts cover the rest. */
export const MANIFEST_SCAN_ENTRIES = 100;

export interface ManifestTeacher {
  /** Base name of the model file (never a path: stores travel between machines). */
  file: string;
  sha256: string;
  engine: 'onnx' | 'tfjs';
  /** Backend(s) that produced the labels, comma-separated when shards differ. */
  backend: string;
  inputSize: number;
  layout: Layout;
  mean: [number, number, number];
  std: [number, number, number];
  outputs: OutputKind;
  temperature: number;
  /** Present when the teacher's classes are not the folders (`fkd label --class-map`): its output count and each folder's output. */
  classMap?: ClassMap;
}

export interface ManifestSampler {
  seed: number;
  scale: [number, number];
  ratio: [number, number];
  /** Probability of a horizontal flip. */
  flip: number;
  /** Label epochs: epoch blocks per shard. */
  epochs: number;
  /** Crops per image per label epoch. */
  crops: number;
  interpolation: 'bilinear' | 'bicubic';
  /** Images with more pixels than this were skipped rather than decoded. */
  maxPixels: number;
  /** How the labeler decoded JPEGs: 'fkd-jpeg-1' (decode-wasm.ts, `IN_THREAD_RULE`); absent, libvips for every file. */
  decoder?: 'fkd-jpeg-1';
}

export interface ShardEntry {
  index: number;
  /** Store key of the shard file, e.g. `shards/000017.fkd`. */
  key: string;
  imageStart: number;
  imageCount: number;
  /** Records over all epochs. */
  records: number;
  layout: ShardLayout;
}

export interface Manifest {
  format: 'fkd-labels';
  version: FormatVersion;
  /** Format 2: features a reader must understand (see KNOWN_FEATURES); empty for format 1. */
  requires: string[];
  /** False while shards are missing (a manifest assembled to inspect an unfinished run). */
  complete: boolean;
  createdAt: string;
  tool: { name: string; version: string };
  dataset: ManifestDataset;
  teacher: ManifestTeacher;
  sampler: ManifestSampler;
  codec: CodecDescription;
  /** Format 2, with `requires: ["boxes-from"]`: the store this one's crops are taken from. */
  boxesFrom?: BoxesFrom;
  shardImages: number;
  shards: ShardEntry[];
  totals: { records: number; bytes: number };
  scan?: ManifestScan;
}

/**
 * Parse and validate `manifest.json`. Every field is checked, including that shard keys
 * stay inside the store (`E_BAD_KEY`) and that the shard list, record counts and block
 * layouts agree with each other. The result is a fresh object holding only the known
 * fields; unknown fields are ignored so that additive changes stay readable.
 *
 * @example
 * const manifest = parseManifest(new TextDecoder().decode(await driver.get(MANIFEST_KEY)), driver.location);
 * console.log(manifest.totals.records);
 */
export function parseManifest(text: string, location: string): Manifest {
  const where = `${location}/${MANIFEST_KEY}`;
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    throw new FkdError('E_CORRUPT_MANIFEST', `${where} is not valid JSON: ${error.message}. ${REMEDY}`, { path: where, cause: error });
  }
  const check = new Checker(where, 'E_CORRUPT_MANIFEST', REMEDY);
  const root = check.object(value, 'the manifest');
  if (root.format === MANIFEST_FORMAT && root.version === 2) checkIntegrity(text, root.integrity, check);
  return readManifest(value, check);
}

/**
 * Every field rule of the manifest, on a value not yet written (so without the integrity
 * check, which needs the file's bytes): how finalize checks what the shard entries assemble.
 *
 * @example
 * checkManifestFields(JSON.parse(JSON.stringify(assembled)), store.location); // throws E_CORRUPT_MANIFEST naming the field
 */
export function checkManifestFields(value: unknown, location: string): Manifest {
  return readManifest(value, new Checker(`${location}/${MANIFEST_KEY}`, 'E_CORRUPT_MANIFEST', REMEDY));
}

/**
 * Format 2's self-check: the SHA-256 of the file with its own hash replaced by 64 zeros. It
 * catches a hand edit or a damaged copy that still parses (the manifest is the store's only
 * trust root: every shard hash is in it). It is not a signature: a writer who recomputes it
 * can still forge a store, which the format's other rules then have to catch.
 */
function checkIntegrity(text: string, claimed: unknown, check: Checker): void {
  const tail = INTEGRITY_TAIL.exec(text);
  if (tail === null || claimed !== tail[1]) {
    throw check.fail('integrity', 'the last member, "integrity": "<64 lower-case hex>", followed by "\\n}\\n"', claimed);
  }
  const recorded = tail[1]!;
  const zeroed = text.slice(0, tail.index) + `"integrity": "${INTEGRITY_PLACEHOLDER}"\n}\n`;
  const actual = sha256Hex(new TextEncoder().encode(zeroed));
  if (actual !== recorded) {
    throw new FkdError(
      check.code,
      `${check.where} fails its integrity check (it records ${recorded}, its bytes hash to ${actual}): it was edited or damaged after fkd wrote it. ${REMEDY}`,
      { path: check.where },
    );
  }
}

/**
 * Read and validate a store's `manifest.json`: its size is checked against
 * MAX_MANIFEST_BYTES before a byte is read, and it must be strict UTF-8.
 *
 * @example
 * const manifest = await loadManifest(await openStore('./labels'));
 */
export async function loadManifest(store: StoreDriver): Promise<Manifest> {
  return (await loadManifestFile(store)).manifest;
}

/**
 * `loadManifest`, also giving the SHA-256 of `manifest.json`'s bytes (what `fkd info` prints and
 * `sha256sum manifest.json` computes). With `sha256`, bytes that hash otherwise are refused
 * (E_PIN_MISMATCH) before they are parsed: a pinned store is exactly the one its user checked.
 *
 * @example
 * const { manifest, sha256 } = await loadManifestFile(store, { sha256: pinned });
 */
export async function loadManifestFile(store: StoreDriver, options: { sha256?: string } = {}): Promise<{ manifest: Manifest; sha256: string }> {
  const where = `${store.location}/${MANIFEST_KEY}`;
  const head = await store.head(MANIFEST_KEY);
  if (head === null) throw new FkdError('E_INCOMPLETE_STORE', `${store.location} has no ${MANIFEST_KEY}.`, { path: where });
  if (head.size > MAX_MANIFEST_BYTES) {
    throw new FkdError('E_CORRUPT_MANIFEST', `${where} is ${head.size} bytes, above the ${MAX_MANIFEST_BYTES}-byte limit of a manifest; it was not read. ${REMEDY}`, { path: where });
  }
  const bytes = await store.get(MANIFEST_KEY);
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new FkdError('E_CORRUPT_MANIFEST', `${where} is ${bytes.length} bytes, above the ${MAX_MANIFEST_BYTES}-byte limit of a manifest. ${REMEDY}`, { path: where });
  }
  const sha256 = sha256Hex(bytes);
  if (options.sha256 !== undefined && options.sha256.toLowerCase() !== sha256) {
    throw new FkdError('E_PIN_MISMATCH', `${where} has SHA-256 ${sha256}, not the pinned ${options.sha256.toLowerCase()}: this is not the store that was pinned (it was relabelled, edited or replaced). Verify it again and pin its new digest, or point to the pinned store.`, { path: where });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (error) {
    throw new FkdError('E_CORRUPT_MANIFEST', `${where} is not valid UTF-8. ${REMEDY}`, { path: where, cause: error });
  }
  return { manifest: parseManifest(text, store.location), sha256 };
}

/**
 * The manifest as JSON with a fixed field order and a trailing newline, so the same
 * manifest always gives the same bytes. It is validated first: fkd never writes a
 * manifest it would refuse to read.
 *
 * @example
 * await driver.put(MANIFEST_KEY, new TextEncoder().encode(serializeManifest(manifest)));
 */
export function serializeManifest(manifest: Manifest): string {
  const ordered = readManifest(manifest, new Checker('manifest', 'E_USAGE', 'This is a bug in the code that built it.'));
  if (ordered.version === 1) {
    const { requires: _none, ...v1 } = ordered;
    return `${JSON.stringify(v1, null, 2)}\n`;
  }
  const zeroed = `${JSON.stringify({ ...ordered, integrity: INTEGRITY_PLACEHOLDER }, null, 2)}\n`;
  const hash = sha256Hex(new TextEncoder().encode(zeroed));
  return zeroed.slice(0, zeroed.length - INTEGRITY_PLACEHOLDER.length - 4) + `${hash}"\n}\n`;
}

/**
 * `manifest.json`'s bytes as a writer stores them, refused when a reader would refuse them
 * (above `maxBytes`, MAX_MANIFEST_BYTES): a label pass over millions of unreadable files lists
 * each in `dataset.skipped`, and a store no reader can open must not be reported complete.
 *
 * @example
 * await store.put(MANIFEST_KEY, encodeManifest(manifest));
 */
export function encodeManifest(manifest: Manifest, maxBytes = MAX_MANIFEST_BYTES): Uint8Array {
  const bytes = new TextEncoder().encode(serializeManifest(manifest));
  if (bytes.length > maxBytes) {
    throw new FkdError(
      'E_FORMAT_LIMIT',
      `The manifest of this store would be ${bytes.length} bytes, above the ${maxBytes} bytes readers accept (docs/FORMAT.md §2), so no reader could open it: it lists ${manifest.dataset.skipped.length} skipped images and ${manifest.shards.length} shards. Remove or fix the unreadable images (dataset.skipped), or label fewer label epochs, then label again.`,
    );
  }
  return bytes;
}

const REMEDY = 'Run `fkd finalize` on the store to rebuild it from the shard entries, or re-run the same `fkd label` command.';

/** Validates field by field and names the field that is wrong. */
class Checker {
  constructor(
    readonly where: string,
    readonly code: FkdErrorCode,
    private readonly remedy: string,
  ) {}

  fail(path: string, expected: string, value: unknown): FkdError {
    const reason = `expected ${expected} for ${path} but found ${describe(value)}`;
    return new FkdError(this.code, `${this.where} is invalid: ${reason}. ${this.remedy}`, { path: this.where, reason });
  }

  inconsistent(message: string): FkdError {
    return new FkdError(this.code, `${this.where} is inconsistent: ${message}. ${this.remedy}`, { path: this.where, reason: message });
  }

  object(value: unknown, path: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw this.fail(path, 'an object', value);
    return value as Record<string, unknown>;
  }

  array(value: unknown, path: string, length?: number): unknown[] {
    if (!Array.isArray(value) || (length !== undefined && value.length !== length)) {
      throw this.fail(path, length === undefined ? 'an array' : `an array of ${length}`, value);
    }
    return value;
  }

  integer(value: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (value instanceof JsonFloat) throw this.fail(path, 'an integer, written without a fraction or exponent', value.value.toFixed(1));
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw this.fail(path, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in ${min}..${max}`, value);
    }
    return value;
  }

  /** A finite number in (min, max] when `openMin`, else [min, max]. */
  number(input: unknown, path: string, min: number, max: number, openMin = false): number {
    const value = input instanceof JsonFloat ? input.value : input;
    if (typeof value !== 'number' || !Number.isFinite(value) || value > max || (openMin ? value <= min : value < min)) {
      const range = `${openMin ? '(' : '['}${min}, ${max === Number.MAX_VALUE ? '∞)' : `${max}]`}`;
      throw this.fail(path, `a number in ${range}`, value);
    }
    return value;
  }

  string(value: unknown, path: string, nonEmpty = true): string {
    if (typeof value !== 'string' || (nonEmpty && value.length === 0)) throw this.fail(path, nonEmpty ? 'a non-empty string' : 'a string', value);
    return value;
  }

  boolean(value: unknown, path: string): boolean {
    if (typeof value !== 'boolean') throw this.fail(path, 'true or false', value);
    return value;
  }

  oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
    if (typeof value !== 'string' || !options.includes(value as T)) throw this.fail(path, `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`, value);
    return value as T;
  }

  sha256(value: unknown, path: string): string {
    if (!isSha256Hex(value)) throw this.fail(path, 'a lower-case hex SHA-256 (64 characters)', value);
    return value;
  }

  /** [min, max] with 0 < min ≤ max ≤ limit. */
  range(value: unknown, path: string, limit: number): [number, number] {
    const [min, max] = this.array(value, path, 2);
    const low = this.number(min, `${path}[0]`, 0, limit, true);
    const high = this.number(max, `${path}[1]`, low, limit);
    return [low, high];
  }

  /** Three numbers in [-limit, limit], or with `positive` in [1/limit, limit]. */
  triple(value: unknown, path: string, positive: boolean, limit: number): [number, number, number] {
    const items = this.array(value, path, 3);
    const read = (item: unknown, i: number): number =>
      positive ? this.number(item, `${path}[${i}]`, 1 / limit, limit) : this.number(item, `${path}[${i}]`, -limit, limit);
    return [read(items[0], 0), read(items[1], 1), read(items[2], 2)];
  }
}

function readManifest(value: unknown, check: Checker): Manifest {
  const root = check.object(value, 'the manifest');
  if (root.format !== MANIFEST_FORMAT) throw check.fail('format', `"${MANIFEST_FORMAT}" (is this an fkd label store?)`, root.format);
  const version = checkVersion(root, check);
  const requires = version === 1 ? [] : readRequires(root.requires, check);
  const complete = check.boolean(root.complete, 'complete');
  const createdAt = check.string(root.createdAt, 'createdAt');
  if (Number.isNaN(Date.parse(createdAt))) throw check.fail('createdAt', 'an ISO 8601 date', createdAt);
  const toolIn = check.object(root.tool, 'tool');
  const tool = { name: check.string(toolIn.name, 'tool.name'), version: check.string(toolIn.version, 'tool.version') };
  const dataset = readDataset(root.dataset, check);
  const teacher = readTeacher(root.teacher, dataset.classes.length, check);
  const sampler = readSampler(root.sampler, check);
  const codec = readCodec(root.codec, dataset.classes.length, check);
  const boxesFrom = readBoxesFrom(root.boxesFrom, requires, check);
  const shardImages = check.integer(root.shardImages, 'shardImages', 1);
  const shards = readShards(root.shards, { dataset, sampler, shardImages, complete, topK: codec.topK }, check);
  const totalsIn = check.object(root.totals, 'totals');
  const totals = {
    records: check.integer(totalsIn.records, 'totals.records'),
    bytes: check.integer(totalsIn.bytes, 'totals.bytes'),
  };
  const records = shards.reduce((sum, shard) => sum + shard.records, 0);
  const bytes = shards.reduce((sum, shard) => sum + shard.layout.bytes, 0);
  if (totals.records !== records) throw check.inconsistent(`totals.records is ${totals.records} but the shards hold ${records}`);
  if (totals.bytes !== bytes) throw check.inconsistent(`totals.bytes is ${totals.bytes} but the shards hold ${bytes}`);
  return {
    format: MANIFEST_FORMAT,
    version,
    requires,
    complete,
    createdAt,
    tool,
    dataset,
    teacher,
    sampler,
    codec,
    ...(boxesFrom ? { boxesFrom } : {}),
    shardImages,
    shards,
    totals,
    ...(root.scan === undefined ? {} : { scan: readScan(root.scan, check) }),
  };
}

/**
 * Validates a scan record on its own (the store's `scan.json`), with the manifest's rules.
 *
 * @example
 * const scan = parseManifestScan(JSON.parse(text), 'labels/scan.json');
 */
export function parseManifestScan(value: unknown, where: string): ManifestScan {
  return readScan(value, new Checker(where, 'E_CORRUPT_MANIFEST', 'Re-run the same `fkd label` command to rewrite it.'));
}

function readScan(value: unknown, check: Checker): ManifestScan {
  const input = check.object(value, 'scan');
  const excluded = check.integer(input.excluded, 'scan.excluded');
  const countsIn = check.object(input.counts, 'scan.counts');
  const counts: Partial<Record<ExclusionKind, number>> = {};
  let sum = 0;
  for (const [kind, count] of Object.entries(countsIn)) {
    counts[check.oneOf(kind, 'a key of scan.counts', EXCLUSION_KINDS)] = check.integer(count, `scan.counts.${kind}`, 1);
    sum += counts[kind as ExclusionKind]!;
  }
  if (sum !== excluded) throw check.inconsistent(`scan.excluded is ${excluded} but scan.counts add up to ${sum}`);
  const entries = check.array(input.entries, 'scan.entries').map((item, i) => {
    const entry = check.object(item, `scan.entries[${i}]`);
    return { path: check.string(entry.path, `scan.entries[${i}].path`, false), kind: check.oneOf(entry.kind, `scan.entries[${i}].kind`, EXCLUSION_KINDS), reason: check.string(entry.reason, `scan.entries[${i}].reason`, false) };
  });
  if (entries.length > Math.min(excluded, MANIFEST_SCAN_ENTRIES)) throw check.fail('scan.entries', `at most ${Math.min(excluded, MANIFEST_SCAN_ENTRIES)} entries`, entries);
  return { excluded, counts, entries };
}

/** `boxesFrom`: present exactly when `requires` lists `boxes-from` (a format 1 manifest has neither). */
function readBoxesFrom(value: unknown, requires: string[], check: Checker): BoxesFrom | undefined {
  const required = requires.includes(BOXES_FROM);
  if (value === undefined && !required) return undefined;
  if (!required) throw check.inconsistent(`boxesFrom is set but requires does not list "${BOXES_FROM}", so a reader that does not know it would misread the store`);
  const input = check.object(value, 'boxesFrom');
  return { store: check.string(input.store, 'boxesFrom.store'), digest: check.sha256(input.digest, 'boxesFrom.digest') };
}

/** Whether `release` is a plain `x.y.z` version above `running`: only then is it worth naming as the upgrade (a store's `tool.version` may say anything). */
function newerRelease(release: string, running: string): boolean {
  const parse = (text: string) => /^(\d{1,9})\.(\d{1,9})\.(\d{1,9})$/.exec(text)?.slice(1).map(Number);
  const [a, b] = [parse(release), parse(running)];
  if (!a || !b) return false;
  const at = a.findIndex((part, i) => part !== b[i]);
  return at >= 0 && a[at]! > b[at]!;
}

function checkVersion(root: Record<string, unknown>, check: Checker): FormatVersion {
  const version = root.version;
  if (READABLE_VERSIONS.includes(version as FormatVersion)) return version as FormatVersion;
  if (typeof version === 'number' && Number.isInteger(version) && version > MANIFEST_VERSION) {
    const tool = typeof root.tool === 'object' && root.tool !== null ? (root.tool as Record<string, unknown>) : {};
    const writer = typeof tool.version === 'string' ? tool.version : undefined;
    throw new FkdError(
      check.code,
      `${check.where} uses label format version ${version}, but this fkd reads format versions ${READABLE_VERSIONS.join(' and ')} only. ` +
        (writer !== undefined && newerRelease(writer, TOOL_VERSION)
          ? `It was written by fkd ${writer}: upgrade to fkd ${writer} or newer (npm install fkd@^${writer}) to read it.`
          : `Upgrade fkd (this is ${TOOL_VERSION}) to a release that reads format version ${version}.`),
      { path: check.where },
    );
  }
  throw check.fail('version', `a format version (${READABLE_VERSIONS.join(' or ')})`, version);
}

/** Format 2's `requires`: distinct feature names, each one this reader understands. */
function readRequires(value: unknown, check: Checker): string[] {
  const names = check.array(value, 'requires').map((name, i) => check.string(name, `requires[${i}]`));
  if (new Set(names).size !== names.length) throw check.fail('requires', 'distinct feature names', names);
  const unknown = names.filter((name) => !KNOWN_FEATURES.has(name));
  if (unknown.length > 0) {
    throw new FkdError(
      check.code,
      `${check.where} requires features this fkd does not understand (${unknown.join(', ')}): reading the store without them would misread it. Upgrade fkd to a release that knows them.`,
      { path: check.where },
    );
  }
  return names;
}

function readDataset(value: unknown, check: Checker): ManifestDataset {
  const input = check.object(value, 'dataset');
  const images = check.integer(input.images, 'dataset.images', 1);
  const classes = check.array(input.classes, 'dataset.classes').map((name, i) => check.string(name, `dataset.classes[${i}]`));
  if (classes.length === 0) throw check.fail('dataset.classes', 'at least one class', classes);
  const seen = new Set<string>();
  for (const [i, name] of classes.entries()) {
    if (seen.has(name)) throw check.inconsistent(`class ${JSON.stringify(name)} appears twice in dataset.classes`);
    seen.add(name);
    // Class folders are sorted (§3): a reordered list would pair every label with another class.
    if (i > 0 && name < classes[i - 1]!) throw check.inconsistent(`dataset.classes is not sorted: ${describe(name)} comes after ${describe(classes[i - 1])}, but class folders are listed in sorted order`);
    // A class is one folder of the tree (§3): every reader finds it as the first segment of a path.
    const problem = name.includes('/') ? 'contains "/"' : pathProblem(name);
    if (problem !== undefined) throw check.fail(`dataset.classes[${i}]`, `one class folder name (it ${problem})`, name);
  }
  const fingerprint = check.sha256(input.fingerprint, 'dataset.fingerprint');
  let previous = -1;
  const skipped = check.array(input.skipped, 'dataset.skipped').map((item, i) => {
    const path = `dataset.skipped[${i}]`;
    const entry = check.object(item, path);
    const index = check.integer(entry.index, `${path}.index`, previous + 1, images - 1);
    previous = index;
    const file = check.string(entry.path, `${path}.path`);
    const problem = pathProblem(file);
    if (problem !== undefined) throw check.fail(`${path}.path`, `a relative path inside the dataset root (it ${problem})`, file);
    return { index, path: file, reason: check.string(entry.reason, `${path}.reason`, false) };
  });
  return { images, classes, fingerprint, skipped };
}

function readTeacher(value: unknown, numClasses: number, check: Checker): ManifestTeacher {
  const input = check.object(value, 'teacher');
  const file = check.string(input.file, 'teacher.file');
  if (file.includes('/') || file.includes('\\') || file === '.' || file === '..') throw check.fail('teacher.file', 'a file name without directories', file);
  return {
    file,
    sha256: check.sha256(input.sha256, 'teacher.sha256'),
    engine: check.oneOf(input.engine, 'teacher.engine', ['onnx', 'tfjs'] as const),
    backend: check.string(input.backend, 'teacher.backend'),
    inputSize: check.integer(input.inputSize, 'teacher.inputSize', 1, MANIFEST_LIMITS.inputSize),
    layout: check.oneOf(input.layout, 'teacher.layout', ['nchw', 'nhwc'] as const),
    mean: check.triple(input.mean, 'teacher.mean', false, MANIFEST_LIMITS.normalization),
    std: check.triple(input.std, 'teacher.std', true, MANIFEST_LIMITS.normalization),
    outputs: check.oneOf(input.outputs, 'teacher.outputs', ['logits', 'probs'] as const),
    temperature: check.number(input.temperature, 'teacher.temperature', 0, Number.MAX_VALUE, true),
    ...(input.classMap === undefined ? {} : { classMap: readClassMap(input.classMap, numClasses, check) }),
  };
}

/** `teacher.classMap`: one distinct output in 0..outputs−1 per folder class. */
function readClassMap(value: unknown, numClasses: number, check: Checker): ClassMap {
  const input = check.object(value, 'teacher.classMap');
  const outputs = check.integer(input.outputs, 'teacher.classMap.outputs', 1, MANIFEST_LIMITS.teacherOutputs);
  const seen = new Set<number>();
  const indices = check.array(input.indices, 'teacher.classMap.indices', numClasses).map((item, i) => {
    const index = check.integer(item, `teacher.classMap.indices[${i}]`, 0, outputs - 1);
    if (seen.has(index)) throw check.inconsistent(`teacher output ${index} appears twice in teacher.classMap.indices`);
    seen.add(index);
    return index;
  });
  return { outputs, indices };
}

function readSampler(value: unknown, check: Checker): ManifestSampler {
  const input = check.object(value, 'sampler');
  return {
    seed: check.integer(input.seed, 'sampler.seed'),
    scale: check.range(input.scale, 'sampler.scale', 1),
    ratio: check.range(input.ratio, 'sampler.ratio', Number.MAX_VALUE),
    flip: check.number(input.flip, 'sampler.flip', 0, 1),
    epochs: check.integer(input.epochs, 'sampler.epochs', 1, MANIFEST_LIMITS.epochs),
    crops: check.integer(input.crops, 'sampler.crops', 1, MANIFEST_LIMITS.crops),
    interpolation: check.oneOf(input.interpolation, 'sampler.interpolation', ['bilinear', 'bicubic'] as const),
    maxPixels: check.integer(input.maxPixels, 'sampler.maxPixels', 1),
    ...(input.decoder === undefined ? {} : { decoder: check.oneOf(input.decoder, 'sampler.decoder', ['fkd-jpeg-1'] as const) }),
  };
}

function readCodec(value: unknown, numClasses: number, check: Checker): CodecDescription {
  const input = check.object(value, 'codec');
  if (input.name !== CODEC_NAME) throw check.fail('codec.name', `"${CODEC_NAME}" (the only codec of format version 1)`, input.name);
  if (input.stepLn !== PROBABILITY_STEP_LN) throw check.fail('codec.stepLn', `${PROBABILITY_STEP_LN} (the step of ${CODEC_NAME})`, input.stepLn);
  return {
    name: CODEC_NAME,
    topK: check.integer(input.topK, 'codec.topK', 1, numClasses),
    stepLn: PROBABILITY_STEP_LN,
    target: check.oneOf(input.target, 'codec.target', TARGET_MODES),
  };
}

interface ShardContext {
  dataset: ManifestDataset;
  sampler: ManifestSampler;
  shardImages: number;
  complete: boolean;
  topK: number;
}

function readShards(value: unknown, context: ShardContext, check: Checker): ShardEntry[] {
  const { dataset, sampler, shardImages, complete, topK } = context;
  const classBytes = classBytesFor(dataset.classes.length);
  const shardCount = Math.ceil(dataset.images / shardImages);
  const skipped = dataset.skipped.map((entry) => entry.index);
  const keys = new Set<string>();
  let previous = -1;
  let s = 0;
  const shards = check.array(value, 'shards').map((item, i): ShardEntry => {
    const path = `shards[${i}]`;
    const input = check.object(item, path);
    const index = check.integer(input.index, `${path}.index`, previous + 1, shardCount - 1);
    previous = index;
    const key = readKey(input.key, `${path}.key`, check);
    if (keys.has(key)) throw check.inconsistent(`shard key ${JSON.stringify(key)} is listed twice`);
    keys.add(key);
    const imageStart = index * shardImages;
    const imageCount = Math.min(shardImages, dataset.images - imageStart);
    if (input.imageStart !== imageStart) throw check.fail(`${path}.imageStart`, `${imageStart} (index × shardImages)`, input.imageStart);
    if (input.imageCount !== imageCount) throw check.fail(`${path}.imageCount`, `${imageCount}`, input.imageCount);
    // Both lists ascend, so one pointer counts the skipped images of every shard.
    while (s < skipped.length && (skipped[s] as number) < imageStart) s++;
    let skippedHere = 0;
    while (s < skipped.length && (skipped[s] as number) < imageStart + imageCount) {
      s++;
      skippedHere++;
    }
    const perEpoch = (imageCount - skippedHere) * sampler.crops;
    const records = check.integer(input.records, `${path}.records`);
    if (records !== perEpoch * sampler.epochs) {
      throw check.inconsistent(`${path} claims ${records} records, but ${imageCount - skippedHere} images with records × ${sampler.crops} crops × ${sampler.epochs} epochs make ${perEpoch * sampler.epochs}`);
    }
    // The cap the decoder applies to each epoch block, checked here so that no reader
    // plans memory or work for a block it would refuse.
    const rawSize = columnBytes(perEpoch, topK, classBytes);
    if (rawSize > MAX_EPOCH_RAW_BYTES) {
      throw check.inconsistent(`${path}'s epoch blocks would unpack to ${rawSize} bytes each, above the ${MAX_EPOCH_RAW_BYTES}-byte limit of an epoch block`);
    }
    const layout = readLayout(input.layout, `${path}.layout`, sampler.epochs, perEpoch, check);
    return { index, key, imageStart, imageCount, records, layout };
  });
  if (complete && shards.length !== shardCount) {
    throw check.inconsistent(`it is marked complete but lists ${shards.length} of ${shardCount} shards`);
  }
  return shards;
}

function readKey(value: unknown, path: string, check: Checker): string {
  const key = check.string(value, path);
  try {
    return checkKey(key);
  } catch (error) {
    throw new FkdError('E_BAD_KEY', `${check.where} names ${path} ${JSON.stringify(key)}, which is not a key inside the store. Refusing to follow it.`, {
      path: key,
      cause: error,
    });
  }
}

function readLayout(value: unknown, path: string, epochs: number, perEpoch: number, check: Checker): ShardLayout {
  const input = check.object(value, path);
  const bytes = check.integer(input.bytes, `${path}.bytes`, SHARD_MAGIC.length + 1, MAX_SHARD_BYTES);
  const sha256 = check.sha256(input.sha256, `${path}.sha256`);
  const images = readBlockRef(input.images, `${path}.images`, SHARD_MAGIC.length, check);
  let end = images.offset + images.length;
  const refs = check.array(input.epochs, `${path}.epochs`, epochs).map((item, e): EpochBlockRef => {
    const at = `${path}.epochs[${e}]`;
    const ref = readBlockRef(item, at, end, check);
    const entry = item as Record<string, unknown>;
    if (entry.epoch !== e) throw check.fail(`${at}.epoch`, `${e}`, entry.epoch);
    if (entry.records !== perEpoch) throw check.fail(`${at}.records`, `${perEpoch} (images with records × crops)`, entry.records);
    end = ref.offset + ref.length;
    return { ...ref, epoch: e, records: perEpoch };
  });
  if (end !== bytes) throw check.inconsistent(`${path} blocks end at byte ${end} but the shard has ${bytes} bytes`);
  return { bytes, sha256, images, epochs: refs };
}

/** Blocks are back to back: each must start exactly where the previous one ended. */
function readBlockRef(value: unknown, path: string, offset: number, check: Checker): BlockRef {
  const input = check.object(value, path);
  if (input.offset !== offset) throw check.fail(`${path}.offset`, `${offset} (where the previous block ends)`, input.offset);
  return { offset, length: check.integer(input.length, `${path}.length`, 1, MAX_BLOCK_BYTES), sha256: check.sha256(input.sha256, `${path}.sha256`) };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = JSON.stringify(value) ?? `a ${typeof value}`;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
