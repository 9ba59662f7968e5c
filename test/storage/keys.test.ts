import { describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { checkKey } from '../../src/storage/keys.js';

describe('checkKey', () => {
  it.each(['manifest.json', 'shards/00000.fkd', 'a/b/c/d', '.hidden', 'a..b/c', '...', 'ünïcødé/ß', 'with space/x+y=z'])('accepts %j and returns it unchanged', (key) => {
    expect(checkKey(key)).toBe(key);
  });

  it.each([
    ['', 'empty'],
    ['/abs', 'absolute'],
    ['/', 'root'],
    ['../x', 'parent at the start'],
    ['a/../b', 'parent in the middle'],
    ['a/..', 'parent at the end'],
    ['./a', 'current directory'],
    ['a/./b', 'current directory in the middle'],
    ['a//b', 'empty part'],
    ['a/', 'trailing slash'],
    ['a\\b', 'backslash, a separator on Windows'],
    ['..\\x', 'backslash parent'],
    ['a\0b', 'NUL byte'],
  ])('rejects %j (%s) with E_BAD_KEY', (key) => {
    let caught: unknown;
    try {
      checkKey(key);
    } catch (error) {
      caught = error;
    }
    expect(isFkdError(caught, 'E_BAD_KEY')).toBe(true);
    expect((caught as Error).message).toContain(`"${key}"`);
  });
});
