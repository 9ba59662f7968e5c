import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { FkdError } from '../errors.js';

/**
 * Opens a file for reading only if it is a regular file. The open itself is non-blocking, so a
 * FIFO (whose plain open waits for a writer, forever) or a device is seen and refused by its
 * `fstat` before a single read, on the very file that was opened (no check-then-open race).
 * Errors of the open itself are the raw fs errors, for the caller's message.
 *
 * @example
 * const handle = await openRegularFile('labels/shards/000000.fkd');
 */
export async function openRegularFile(path: string): Promise<FileHandle> {
  // O_NONBLOCK does not exist on Windows, where a FIFO cannot be opened by path anyway.
  const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      const kind = info.isFIFO() ? 'a FIFO' : info.isCharacterDevice() || info.isBlockDevice() ? 'a device' : info.isSocket() ? 'a socket' : info.isDirectory() ? 'a folder' : 'not a regular file';
      throw new FkdError('E_IO', `${path} is ${kind}, not a regular file: fkd reads only regular files (a FIFO or device could block or never end).`, { path });
    }
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Reads a whole regular file of at most `maxBytes`, refusing a larger one before reading it
 * (and one that grows past the bound while it is read), so no input file can take unbounded
 * memory. `what` names the file in the message ("Class map x.json").
 *
 * @example
 * const bytes = await readFileCapped('map.json', 64 * 1024 * 1024, 'Class map map.json');
 */
export async function readFileCapped(path: string, maxBytes: number, what: string): Promise<Buffer> {
  const handle = await openRegularFile(path);
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new FkdError('E_IO', `${what} is ${size} bytes, more than the ${maxBytes} this file may hold.`, { path });
    // One byte more than allowed tells a file that grew since its stat.
    const buffer = Buffer.alloc(Math.min(size + 1, maxBytes + 1));
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled > maxBytes) throw new FkdError('E_IO', `${what} grew past ${maxBytes} bytes while it was read.`, { path });
      if (filled === buffer.length) break;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}
