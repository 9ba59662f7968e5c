/**
 * Every failure fkd reports on purpose is an `FkdError` with a stable `code`, so
 * scripts can branch on it and the CLI can print it next to the message.
 */
export type FkdErrorCode =
  | 'E_USAGE'
  | 'E_IO'
  | 'E_BAD_IMAGE'
  | 'E_IMAGE_TOO_LARGE'
  | 'E_EMPTY_DATASET'
  | 'E_BAD_ENTRY'
  | 'E_TOO_FEW_IMAGES'
  | 'E_DATASET_MISMATCH'
  | 'E_IMAGE_CHANGED'
  | 'E_MODEL_LOAD'
  | 'E_MODEL_SHAPE'
  | 'E_CLASS_MAP'
  | 'E_CORRUPT_SHARD'
  | 'E_CORRUPT_MANIFEST'
  | 'E_INCOMPLETE_STORE'
  | 'E_OPTIONS_MISMATCH'
  | 'E_MISSING_SLICES'
  | 'E_STORE'
  | 'E_BAD_KEY'
  | 'E_DEVICE'
  | 'E_ABORTED'
  | 'E_VERIFY_FAILED'
  | 'E_WORKER'
  | 'E_DIVERGED'
  | 'E_BOXES_FROM'
  | 'E_FORMAT_LIMIT'
  | 'E_PIN_MISMATCH'
  | 'E_FORMAT_1'

  | 'E_BAD_TAR'
  | 'E_BAD_SHARD_SET';

/**
 * What an error is about, as data: scripts branch on these instead of parsing messages, and the
 * CLI shows `option` by its flag. Every field is optional; each error sets the ones it knows.
 */
export interface FkdErrorDetails {
  /** The option at fault, by its library name (`shardImages`); the CLI shows its flag (`--shard-images`). */
  option?: string | undefined;
  /** The store key the error is about (`shards/000003.fkd`). */
  key?: string | undefined;
  /** The shard index. */
  shard?: number | undefined;
  /** The label epoch. */
  epoch?: number | undefined;
  /** The file, object key or URL the error is about. */
  path?: string | undefined;
  /** The HTTP status an object store answered. */
  status?: number | undefined;
  /** What is wrong with the image at `path`, without the path: what a store records for a skipped image. */
  reason?: string | undefined;
}

export interface FkdErrorOptions extends FkdErrorDetails {
  cause?: unknown;
}

/**
 * Marks fkd's errors by a registry symbol rather than by class, so two copies of fkd in one
 * process (a library and a tool that bundles its own) recognise each other's errors.
 */
const BRAND = Symbol.for('fkd.error');

/**
 * @example
 * throw new FkdError('E_USAGE', 'Expected a positive integer for shardImages but received 0.', { option: 'shardImages' });
 */
export class FkdError extends Error {
  override readonly name = 'FkdError';
  readonly code: FkdErrorCode;
  readonly details: Readonly<FkdErrorDetails>;

  constructor(code: FkdErrorCode, message: string, options: FkdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    const { cause: _cause, ...details } = options;
    this.details = Object.freeze(Object.fromEntries(Object.entries(details).filter(([, value]) => value !== undefined)));
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** The file, object key or URL the error is about: `details.path`. */
  get path(): string | undefined {
    return this.details.path;
  }
}

/**
 * True for an error fkd threw on purpose (from this copy of fkd or any other), with `code` if given.
 *
 * @example
 * try { await openLabels(url); } catch (error) { if (isFkdError(error, 'E_INCOMPLETE_STORE')) finishFirst(); }
 */
export function isFkdError(value: unknown, code?: FkdErrorCode): value is FkdError {
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (value as { code?: unknown }).code === code;
}
