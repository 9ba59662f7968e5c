import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile, appendFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanDataset } from '../../src/dataset/scan.js';
import { isFkdError } from '../../src/errors.js';
import { makeImageFolder } from '../helpers/images.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fkd-scan-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ImageFolder scan', () => {
  it('indexes classes in sorted order and images by class, then path', async () => {
    await makeImageFolder(dir, { classes: ['zebra', 'apple', 'Mango'], perClass: 2 });
    const dataset = await scanDataset(dir);
    expect(dataset.classes).toEqual(['Mango', 'apple', 'zebra']);
    expect(dataset.images.map((i) => `${i.classIndex}:${i.path}`)).toEqual([
      '0:Mango/img-0.jpg',
      '0:Mango/img-1.jpg',
      '1:apple/img-0.jpg',
      '1:apple/img-1.jpg',
      '2:zebra/img-0.jpg',
      '2:zebra/img-1.jpg',
    ]);
  });

  it('skips hidden entries and non-images, and counts them', async () => {
    await makeImageFolder(dir, { classes: 2, perClass: 1 });
    await writeFile(join(dir, 'class-00', '.DS_Store'), 'x');
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, 'class-01', 'notes.txt'), 'x');
    const dataset = await scanDataset(dir);
    expect(dataset.images).toHaveLength(2);
    expect(dataset.excluded.counts).toEqual({ hidden: 2, 'not-image': 1 });
    expect(dataset.excluded.entries).toContainEqual({ path: 'class-01/notes.txt', kind: 'not-image', reason: '.txt is not an image extension' });
    expect(dataset.classes).toEqual(['class-00', 'class-01']);
  });

  it('skips names a store cannot hold, and counts them', async () => {
    await makeImageFolder(dir, { classes: 1, perClass: 1 });
    await writeFile(join(dir, 'class-00', 'back\\slash.jpg'), 'x');
    const dataset = await scanDataset(dir);
    expect(dataset.images.map((i) => i.path)).toEqual(['class-00/img-0.jpg']);
    expect(dataset.excluded.counts['unusable-name']).toBe(1);
  });

  it('skips names with a control character, so the fingerprint text (path TAB size LF) stays unambiguous', async () => {
    // "a\tb.jpg" of 1 byte would list as "…/a\tb.jpg\t1\n", which a file "a" could be confused with.
    await makeImageFolder(dir, { classes: 1, perClass: 1 });
    for (const name of ['tab\tname.jpg', 'line\nfeed.jpg', 'esc\u001b[2J.jpg']) await writeFile(join(dir, 'class-00', name), 'x');
    await mkdir(join(dir, 'class\t2'));
    const dataset = await scanDataset(dir);
    expect(dataset.classes).toEqual(['class-00']);
    expect(dataset.images.map((i) => i.path)).toEqual(['class-00/img-0.jpg']);
    expect(dataset.excluded.counts['unusable-name']).toBe(4);
    expect(dataset.excluded.entries.find((e) => e.path === 'class-00/tab\tname.jpg')?.reason).toMatch(/control character/);
  });

  it('walks nested folders inside a class', async () => {
    await makeImageFolder(dir, { classes: 1, perClass: 1 });
    await mkdir(join(dir, 'class-00', 'more'));
    await writeFile(join(dir, 'class-00', 'more', 'x.jpg'), 'not decoded by the scan');
    const dataset = await scanDataset(dir);
    expect(dataset.images.map((i) => i.path)).toEqual(['class-00/img-0.jpg', 'class-00/more/x.jpg']);
  });

  it('fingerprints paths and sizes, so any change to the tree changes it', async () => {
    await makeImageFolder(dir, { classes: 2, perClass: 2 });
    const before = (await scanDataset(dir)).fingerprint;
    expect((await scanDataset(dir)).fingerprint).toBe(before);
    await appendFile(join(dir, 'class-01', 'img-1.jpg'), 'x');
    const grown = (await scanDataset(dir)).fingerprint;
    expect(grown).not.toBe(before);
    await writeFile(join(dir, 'class-00', 'img-9.jpg'), 'x');
    expect((await scanDataset(dir)).fingerprint).not.toBe(grown);
  });

  it('refuses a folder without class folders or without images', async () => {
    await expect(scanDataset(join(dir, 'nope'))).rejects.toSatisfy((e) => isFkdError(e, 'E_IO'));
    await expect(scanDataset(dir)).rejects.toSatisfy((e) => isFkdError(e, 'E_EMPTY_DATASET'));
    await mkdir(join(dir, 'empty-class'));
    await expect(scanDataset(dir)).rejects.toSatisfy((e) => isFkdError(e, 'E_EMPTY_DATASET'));
  });

  it('records dangling and self-looping symlinks and names that are not UTF-8 instead of aborting', async () => {
    await makeImageFolder(dir, { classes: 2, perClass: 1 });
    await symlink(join(dir, 'gone.jpg'), join(dir, 'class-00', 'dangling.jpg'));
    await symlink(join(dir, 'class-00', 'self.jpg'), join(dir, 'class-00', 'self.jpg'));
    // Node would read these names as U+FFFD; they must be seen as the bytes they are.
    await writeFile(Buffer.concat([Buffer.from(join(dir, 'class-01', 'bad-')), Buffer.from([0xff, 0xfe]), Buffer.from('.jpg')]), 'x');
    await mkdir(Buffer.concat([Buffer.from(join(dir, 'class-')), Buffer.from([0xc3, 0x28])]));
    const dataset = await scanDataset(dir);
    expect(dataset.classes).toEqual(['class-00', 'class-01']);
    expect(dataset.images.map((i) => i.path)).toEqual(['class-00/img-0.jpg', 'class-01/img-0.jpg']);
    expect(dataset.excluded.counts).toEqual({ 'dangling-link': 1, 'link-loop': 1, 'unusable-name': 2 });
    expect(dataset.excluded.entries.find((e) => e.kind === 'dangling-link')).toMatchObject({ path: 'class-00/dangling.jpg', reason: 'a symlink to nothing' });
    expect(dataset.excluded.entries.filter((e) => e.kind === 'unusable-name').map((e) => e.path).sort()).toEqual(['class-01/bad-\uFFFD\uFFFD.jpg', 'class-\uFFFD(']);
  });

  it('follows symlinked class folders and nested folders, and refuses links back to a parent', async () => {
    await makeImageFolder(dir, { classes: 2, perClass: 1 });
    const elsewhere = await mkdtemp(join(tmpdir(), 'fkd-scan-linked-'));
    try {
      await makeImageFolder(elsewhere, { classes: ['linked'], perClass: 2 });
      await symlink(join(elsewhere, 'linked'), join(dir, 'class-02'));
      await symlink(join(dir, 'class-00'), join(dir, 'class-00', 'loop'));
      await symlink('.', join(elsewhere, 'linked', 'up'));
      const dataset = await scanDataset(dir);
      expect(dataset.classes).toEqual(['class-00', 'class-01', 'class-02']);
      expect(dataset.images.filter((i) => i.classIndex === 2).map((i) => i.path)).toEqual(['class-02/img-0.jpg', 'class-02/img-1.jpg']);
      expect(dataset.excluded.counts).toEqual({ 'link-loop': 2 });
      expect(dataset.excluded.entries.map((e) => e.path).sort()).toEqual(['class-00/loop', 'class-02/up']);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('refuses FIFOs and sockets without opening them, so the scan cannot hang', async () => {
    await makeImageFolder(dir, { classes: 1, perClass: 1 });
    execFileSync('mkfifo', [join(dir, 'class-00', 'pipe.jpg')]);
    await symlink(join(dir, 'class-00', 'pipe.jpg'), join(dir, 'class-00', 'link-to-pipe.jpg'));
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'class-00', 'socket.jpg'), resolve));
    try {
      const dataset = await scanDataset(dir);
      expect(dataset.images.map((i) => i.path)).toEqual(['class-00/img-0.jpg']);
      expect(dataset.excluded.counts).toEqual({ 'special-file': 3 });
      expect(dataset.excluded.entries.map((e) => e.reason).sort()).toEqual(['a FIFO, which is never opened', 'a socket, which is never opened', 'a symlink to a FIFO, which is never opened']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reports files skipped for their extension, and reads .jfif as the JPEG it is', async () => {
    await makeImageFolder(dir, { classes: 1, perClass: 1 });
    for (const name of ['a.bmp', 'b.ppm', 'c.pgm', 'd.JFIF']) await writeFile(join(dir, 'class-00', name), 'x');
    const dataset = await scanDataset(dir);
    expect(dataset.images.map((i) => i.path)).toEqual(['class-00/d.JFIF', 'class-00/img-0.jpg']);
    expect(dataset.excluded.counts).toEqual({ 'unsupported-format': 3 });
    expect(dataset.excluded.entries[0]!.reason).toMatch(/a \.bmp file: torchvision reads it, fkd's decoder \(sharp\) cannot/);
  });

  it('keeps an empty class folder as a class, with a warning, so the class count stays right', async () => {
    await makeImageFolder(dir, { classes: ['a', 'c'], perClass: 1 });
    await mkdir(join(dir, 'b'));
    const dataset = await scanDataset(dir);
    expect(dataset.classes).toEqual(['a', 'b', 'c']);
    expect(dataset.images.map((i) => `${i.classIndex}:${i.path}`)).toEqual(['0:a/img-0.jpg', '2:c/img-0.jpg']);
    expect(dataset.excluded.entries).toEqual([{ path: 'b', kind: 'empty-class', reason: 'a class folder with no images; kept as class 1 so the class indices still match the teacher' }]);
  });

  it("stops at the first bad entry with onBadEntry 'throw', but not for clutter or empty classes", async () => {
    await makeImageFolder(dir, { classes: 1, perClass: 1 });
    await writeFile(join(dir, 'class-00', 'notes.txt'), 'x');
    await mkdir(join(dir, 'empty'));
    await expect(scanDataset(dir, { onBadEntry: 'throw' })).resolves.toMatchObject({ classes: ['class-00', 'empty'] });
    await symlink(join(dir, 'gone.jpg'), join(dir, 'class-00', 'dangling.jpg'));
    await expect(scanDataset(dir, { onBadEntry: 'throw' })).rejects.toSatisfy((e) => isFkdError(e, 'E_BAD_ENTRY') && /dangling\.jpg: a symlink to nothing\. .*set onBadEntry to skip/.test((e as Error).message) && e.details.option === 'onBadEntry');
  });

  it("still takes the deprecated 'fail' for 'throw', with one FKD_DEPRECATED warning", async () => {
    await makeImageFolder(dir, { classes: 1, perClass: 1 });
    await symlink(join(dir, 'gone.jpg'), join(dir, 'class-00', 'dangling.jpg'));
    const warnings: Error[] = [];
    const listen = (warning: Error): void => void warnings.push(warning);
    process.on('warning', listen);
    try {
      await expect(scanDataset(dir, { onBadEntry: 'fail' })).rejects.toSatisfy((e) => isFkdError(e, 'E_BAD_ENTRY'));
      await expect(scanDataset(dir, { onBadEntry: 'fail' })).rejects.toSatisfy((e) => isFkdError(e, 'E_BAD_ENTRY'));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listen);
    }
    expect(warnings.filter((warning) => (warning as Error & { code?: string }).code === 'FKD_DEPRECATED').map((warning) => warning.message)).toEqual([
      'onBadEntry "fail" is deprecated and goes in the next release; use onBadEntry "throw".',
    ]);
  });
});
