import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * The real path of the longest existing prefix, with the rest (not created yet) appended, so
 * two spellings of one place (a symlink, `..`) compare equal before the place exists.
 *
 * @example
 * await realPathSoFar('labels/new/report.html'); // '/data/labels/new/report.html'
 */
export async function realPathSoFar(path: string): Promise<string> {
  const absolute = resolve(path);
  try {
    return await realpath(absolute);
  } catch {
    const parent = dirname(absolute);
    return parent === absolute ? absolute : join(await realPathSoFar(parent), basename(absolute));
  }
}

/**
 * True when `inner` is `outer` or below it (both absolute, as `realPathSoFar` gives them).
 *
 * @example
 * isWithin('/data/train/cat', '/data/train'); // true
 */
export function isWithin(inner: string, outer: string): boolean {
  const path = relative(outer, inner);
  return path === '' || (path !== '..' && !path.startsWith(`..${sep}`) && !isAbsolute(path));
}
