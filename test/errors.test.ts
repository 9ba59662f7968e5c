import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { flagOf } from '../src/cli/flags.js';
import { FkdError, isFkdError } from '../src/errors.js';

describe('FkdError', () => {
  it('carries code, message, cause and the details it was given, and nothing undefined', () => {
    const cause = new Error('socket hang up');
    const error = new FkdError('E_STORE', 'Cannot read s3://b/x/shards/000003.fkd.', { cause, key: 'shards/000003.fkd', shard: 3, epoch: undefined, status: 503, path: 's3://b/x/shards/000003.fkd' });
    expect(error).toMatchObject({ name: 'FkdError', code: 'E_STORE', message: 'Cannot read s3://b/x/shards/000003.fkd.', cause });
    expect(error.details).toEqual({ key: 'shards/000003.fkd', shard: 3, status: 503, path: 's3://b/x/shards/000003.fkd' });
    expect(error.path).toBe('s3://b/x/shards/000003.fkd');
    expect(Object.isFrozen(error.details)).toBe(true);
  });

  it('is recognised by its brand, not its class: by another copy of fkd, and never for a look-alike', async () => {
    // dist/ is a second copy of the module (npm test builds it first): another class, the same brand.
    const other = (await import(join(fileURLToPath(new URL('../dist/', import.meta.url)), 'errors.js'))) as typeof import('../src/errors.js');
    expect(other.FkdError).not.toBe(FkdError);
    const theirs = new other.FkdError('E_BAD_KEY', 'from the other copy', { key: '../x' });
    expect(theirs).not.toBeInstanceOf(FkdError);
    expect(isFkdError(theirs, 'E_BAD_KEY')).toBe(true);
    expect(other.isFkdError(new FkdError('E_IO', 'from this copy'), 'E_IO')).toBe(true);
    expect(isFkdError(theirs, 'E_IO')).toBe(false);
    const lookAlike = Object.assign(new Error('x'), { name: 'FkdError', code: 'E_IO' });
    expect(isFkdError(lookAlike)).toBe(false);
    expect(isFkdError(null)).toBe(false);
    expect(isFkdError('E_IO')).toBe(false);
  });
});

describe('details.option', () => {
  const SRC = fileURLToPath(new URL('../src/', import.meta.url));
  const files = (directory: string): string[] =>
    readdirSync(directory).flatMap((name) => {
      const full = join(directory, name);
      return statSync(full).isDirectory() ? files(full) : name.endsWith('.ts') ? [full] : [];
    });

  it('names, everywhere in src/, an option the CLI can show by its flag', () => {
    const named = new Set(files(SRC).flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\boption: '([\w.]+)'/g)].map((match) => match[1]!)));
    expect(named.size).toBeGreaterThan(8);
    expect([...named].filter((option) => flagOf(option) === undefined)).toEqual([]);
  });

  it('maps library names to flags through the option schemas', () => {
    expect(flagOf('shardImages')).toBe('--shard-images');
    expect(flagOf('learningRate')).toBe('--lr');
    expect(flagOf('checkpointDir')).toBe('--checkpoint');
    expect(flagOf('mix.alpha')).toBe('--mix-alpha');
    expect(flagOf('noSuchOption')).toBeUndefined();
  });
});
