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
  | 'E_BAD_TAR'
  | 'E_BAD_SHARD_SET';

export interface FkdErrorOptions {
  cause?: unknown;
  /** The file, object key or URL the error is about. */
  path?: string;
}

export class FkdError extends Error {
  override readonly name = 'FkdError';
  readonly code: FkdErrorCode;
  readonly path: string | undefined;

  constructor(code: FkdErrorCode, message: string, options: FkdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
  }
}

export function isFkdError(value: unknown, code?: FkdErrorCode): value is FkdError {
  return value instanceof FkdError && (code === undefined || value.code === code);
}
