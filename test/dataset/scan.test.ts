import { mkdir, mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
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
    expect(dataset.ignored).toEqual({ hidden: 1, notImage: 1, unusableName: 0 });
    expect(dataset.classes).toEqual(['class-00', 'class-01']);
  });

  it('skips names a store cannot hold, and counts them', async () => {
    await makeImageFolder(dir, { classes: 1, perClass: 1 });
    await writeFile(join(dir, 'class-00', 'back\\slash.jpg'), 'x');
    const dataset = await scanDataset(dir);
    expect(dataset.images.map((i) => i.path)).toEqual(['class-00/img-0.jpg']);
    expect(dataset.ignored.unusableName).toBe(1);
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
});
