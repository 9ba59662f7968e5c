import { FkdError, type FkdErrorCode } from '../errors.js';

/**
 * An error about one image file: the message is `<path>: <reason>`, and `details.reason` keeps
 * the reason alone, which is what a store records for an image it skipped (beside its path).
 *
 * @example
 * throw imageError('E_BAD_IMAGE', 'cat/x.jpg', 'truncated image data (VipsJpeg: premature end of input file).');
 */
export function imageError(code: FkdErrorCode, path: string, reason: string, cause?: unknown): FkdError {
  return new FkdError(code, `${path}: ${reason}`, cause === undefined ? { path, reason } : { path, reason, cause });
}
