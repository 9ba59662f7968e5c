import { FkdError } from '../errors.js';

/**
 * What to do about a failed file operation, by its errno code: one wording for every place
 * fkd reads or writes files, so a full disk says "free space and re-run" wherever it strikes.
 *
 * @example
 * ioAdvice({ code: 'ENOSPC' }); // 'The disk is full (ENOSPC): free space, then continue (fkd label: the same command again; fkd train: add --resume); finished work is kept.'
 */
export function ioAdvice(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'unknown';
  switch (code) {
    case 'ENOENT':
      return 'It does not exist.';
    case 'EACCES':
    case 'EPERM':
      return `Check its permissions (${code}).`;
    case 'ENOSPC':
    case 'EDQUOT':
      return `The disk is full (${code}): free space, then continue (fkd label: the same command again; fkd train: add --resume); finished work is kept.`;
    case 'EROFS':
      return 'The filesystem is read-only (EROFS).';
    default:
      return `(${code})`;
  }
}

/**
 * An `E_IO` error for a failed file operation, naming the action, the path and the advice.
 *
 * @example
 * throw ioError(error, 'write', '/data/labels/shards/000001.fkd');
 */
export function ioError(error: unknown, action: string, path: string): FkdError {
  return new FkdError('E_IO', `Cannot ${action} ${path}. ${ioAdvice(error)}`, { cause: error, path });
}
