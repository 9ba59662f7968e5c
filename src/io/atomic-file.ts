import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes a file so that readers see the old content or the new, never part of it, even if
 * the process is killed: a temp file beside it, fsync, then rename. Errors are the raw fs
 * errors; callers turn them into their own messages.
 *
 * @example
 * await writeFileAtomic('/data/labels/manifest.json', bytes);
 */
export async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
