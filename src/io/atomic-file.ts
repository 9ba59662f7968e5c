import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
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
  const temp = await writeTemp(path, data);
  try {
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Creates a file only if nothing is at `path`, atomically and whole: `true` if this call
 * created it, `false` if it was there already (whoever wrote it). The bytes go to a temp
 * file first and are published with `link`, which fails if the name exists, so a reader
 * never sees a half-written file (as it could after an `open(path, 'wx')` + write). Where
 * hard links are not supported (some network and FUSE filesystems) it falls back to an
 * exclusive `wx` open, which is still exclusive but briefly shows an incomplete file.
 *
 * @example
 * if (!(await createFileExclusive('labels/config.json', bytes))) compareWithExisting();
 */
export async function createFileExclusive(path: string, data: Uint8Array): Promise<boolean> {
  const temp = await writeTemp(path, data);
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw error;
    return await createWithExclusiveOpen(path, data);
  } finally {
    await rm(temp, { force: true });
  }
}

async function createWithExclusiveOpen(path: string, data: Uint8Array): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  await writeAndClose(handle, data);
  return true;
}

/** `data` in a flushed temp file beside `path` (its folder created), for the caller to publish. */
async function writeTemp(path: string, data: Uint8Array): Promise<string> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeAndClose(await open(temp, 'w'), data);
    return temp;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Writes all of `data`, flushes it to the device, and closes the file whatever happens. */
async function writeAndClose(handle: FileHandle, data: Uint8Array): Promise<void> {
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
