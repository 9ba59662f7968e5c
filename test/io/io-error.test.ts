import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ioError } from '../../src/io/io-error.js';
import { FsStore } from '../../src/storage/fs.js';

/** A 64 KiB tmpfs, where the machine lets us mount one (root on Linux); else null. */
async function tinyFilesystem(): Promise<{ path: string; dispose: () => Promise<void> } | null> {
  const path = await mkdtemp(join(tmpdir(), 'fkd-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', path], { stdio: 'ignore' });
  } catch {
    await rm(path, { recursive: true, force: true });
    return null;
  }
  return { path, dispose: async () => (execFileSync('umount', [path]), await rm(path, { recursive: true, force: true })) };
}

describe('ioError', () => {
  it.skipIf(!existsSync('/dev/full'))('tells a full disk to free space and re-run (a real ENOSPC from /dev/full)', async () => {
    const error = await writeFile('/dev/full', 'x').catch((caught: unknown) => caught);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(ioError(error, 'write', '/data/labels/shards/000001.fkd').message).toBe(
      'Cannot write /data/labels/shards/000001.fkd. The disk is full (ENOSPC): free space, then continue (fkd label: the same command again; fkd train: add --resume); finished work is kept.',
    );
  });

  it('says so when a store fills its disk, and leaves no temp file behind', async () => {
    const disk = await tinyFilesystem();
    if (!disk) return; // needs a mount (root); the /dev/full case above covers the wording
    try {
      const store = new FsStore(disk.path);
      const error = await store.put('shards/000000.fkd', new Uint8Array(256 * 1024)).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'E_IO', message: expect.stringMatching(/The disk is full \(ENOSPC\): free space, then continue \(fkd label: the same command again; fkd train: add --resume\)/) });
      expect((await readdir(disk.path, { recursive: true })).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    } finally {
      await disk.dispose();
    }
  });
});
