import { FkdError } from '../errors.js';

/**
 * Keys are relative, slash-separated, and stay inside the store: a manifest that names
 * `../x` or `/etc/x` is hostile or broken, never something to follow.
 */
export function checkKey(key: string): string {
  const parts = key.split('/');
  if (
    key.length === 0 ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.includes('\0') ||
    parts.some((part) => part === '' || part === '.' || part === '..')
  ) {
    throw new FkdError('E_BAD_KEY', `Refusing store key "${key}": keys must be relative paths inside the store, without "." or ".." parts.`, { path: key });
  }
  return key;
}
