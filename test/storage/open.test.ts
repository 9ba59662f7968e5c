import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/storage/fs.js';
import { openStore, registerStoreDriver } from '../../src/storage/open.js';
import { openLabels } from '../../src/store/labels.js';

const directories: string[] = [];

afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

describe('the driver registry', () => {
  it('names the schemes it knows when refusing an unknown one', async () => {
    await expect(openStore('gs://bucket/labels')).rejects.toThrow('Expected a directory, file:// or s3:// store location but received "gs://bucket/labels".');
  });

  it('opens a registered scheme, case-insensitively, for openStore and openLabels alike', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fkd-registry-'));
    directories.push(directory);
    const opened: string[] = [];
    registerStoreDriver('Mem', async (location) => {
      opened.push(location);
      return new FsStore(directory);
    });
    expect(await openStore('MEM://one')).toBeInstanceOf(FsStore);
    // Reaching the driver is what matters here: the empty directory then has no label run.
    await expect(openLabels('mem://two')).rejects.toMatchObject({ code: 'E_INCOMPLETE_STORE' });
    expect(opened).toEqual(['MEM://one', 'mem://two']);
    await expect(openStore('gs://x')).rejects.toThrow('file:// or mem:// or s3://');
  });

  it('hands each driver only its own options: a registered driver gets the location alone, never the s3 entry', async () => {
    const received: unknown[][] = [];
    registerStoreDriver('plain', async (...args: unknown[]) => {
      received.push(args);
      return new FsStore('.');
    });
    await openStore('plain://x', { s3: { endpoint: 'http://127.0.0.1:9', maxAttempts: 2 } });
    expect(received).toEqual([['plain://x']]);
  });

  it('refuses a scheme that is not one', () => {
    expect(() => registerStoreDriver('s3://', async () => new FsStore('.'))).toThrow('Expected a URL scheme such as "s3" but received "s3://".');
  });
});
