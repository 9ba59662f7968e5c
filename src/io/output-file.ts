import { lstat } from 'node:fs/promises';
import { FkdError } from '../errors.js';
import { isWithin, realPathSoFar } from './real-path.js';

/** An input of a command, which its output file may be neither equal to nor inside. */
export interface CommandInput {
  /** A local path (file or folder). */
  path: string;
  /** What it is, for the message: "the label store", "--data". */
  what: string;
}

/**
 * Refuses an output file that would destroy something, before the command does any work:
 * a URL (`s3://…` would become a local folder called `s3:`), anything already there that is
 * not a regular file (a folder, a device such as /dev/full, a FIFO, a link), and a path that
 * is one of the command's inputs or inside one (a store's own manifest, an image under
 * --data). The file itself is then written by temp file and rename (io/atomic-file.ts).
 *
 * @example
 * await checkOutputFile('report.html', '--out', [{ path: './labels', what: 'the label store' }]);
 */
export async function checkOutputFile(path: string, flag: string, inputs: readonly CommandInput[]): Promise<void> {
  const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) throw new FkdError('E_USAGE', `${flag} ${shown} is a URL, but ${flag} writes a local file: name a local path (and upload it afterwards if you need to).`, { path });
  const info = await lstat(path).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new FkdError('E_IO', `Cannot use ${flag} ${shown}: ${code ?? (error as Error).message}.`, { path, cause: error });
  });
  if (info && !info.isFile()) {
    const kind = info.isDirectory() ? 'a folder' : info.isSymbolicLink() ? 'a symbolic link' : info.isFIFO() ? 'a FIFO' : info.isCharacterDevice() || info.isBlockDevice() ? 'a device' : 'not a regular file';
    throw new FkdError('E_USAGE', `${flag} ${shown} is ${kind}; it must name a regular file, or a path that does not exist yet.`, { path });
  }
  const target = await realPathSoFar(path);
  for (const input of inputs) {
    const source = await realPathSoFar(input.path);
    if (isWithin(target, source)) {
      throw new FkdError('E_USAGE', `${flag} ${shown} is ${target === source ? '' : 'inside '}${input.what} (${input.path}), which this command reads: writing there would destroy it. Name a file elsewhere.`, { path });
    }
  }
}
