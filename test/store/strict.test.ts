import { rejectionCode } from '../helpers/errors.js';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { finalizeStore } from '../../src/store/writer/finalize.js';
import { createLoader } from '../../src/loader/loader.js';
import { FsStore } from '../../src/storage/fs.js';
import { openStore } from '../../src/storage/open.js';
import { JsonFloat, StrictJsonError, parseStrictJson } from '../../src/io/strict-json.js';
import { openLabels } from '../../src/store/labels.js';
import { MAX_MANIFEST_BYTES, loadManifest } from '../../src/store/manifest.js';
import { FIXTURE_IMAGES } from '../helpers/cli.js';

const V1_STORE = fileURLToPath(new URL('../fixtures/v1-store', import.meta.url));
const HOSTILE = fileURLToPath(new URL('../fixtures/hostile', import.meta.url));

describe('strict JSON', () => {
  it('reads what JSON.parse reads for well-formed input', () => {
    const text = '{"a": [1, -2.5, 3e2, true, null, "x\\u00e9\\n"], "b": {}}';
    const value = parseStrictJson(text) as Record<string, unknown>;
    expect(JSON.stringify(value)).toBe(JSON.stringify({ a: [1, -2.5, new JsonFloat(300), true, null, 'xé\n'], b: {} }));
    expect((value.a as unknown[])[2]).toBeInstanceOf(JsonFloat);
  });

  it.each([
    ['a BOM', '\ufeff{}', /byte order mark/],
    ['a duplicate key', '{"a": 1, "a": 2}', /duplicate key "a"/],
    ['an integer above 2^53', '{"a": 9007199254740993}', /above 2\^53/],
    ['a string above the cap', `{"a": "${'x'.repeat(70000)}"}`, /longer than 65536/],
    ['nesting above the cap', `${'['.repeat(40)}${']'.repeat(40)}`, /deeper than 32/],
    ['trailing text', '{} {}', /after the JSON value/],
    ['a control character', '{"a": "\u0001"}', /control character/],
    ['a leading zero', '{"a": 01}', /expected "," or "}"/],
    ['a lone high surrogate escape in a key', '{"shards/\\ud800.fkd": 1}', /lone surrogate/],
    ['a lone low surrogate escape in a value', '{"key": "shards/\\udc00.fkd"}', /lone surrogate/],
    ['surrogate escapes in the wrong order', '{"a": "\\ude00\\ud83d"}', /lone surrogate/],
    ['a number that overflows to infinity', '{"a": 1e400}', /out of range/],
  ])('refuses %s', (_, text, rule) => {
    expect(() => parseStrictJson(text)).toThrow(rule);
  });

  it('reads every integer and float form as JSON.parse does, on either side of the 15-digit fast path', () => {
    const forms = ['0', '-0', '7', '-42', '123456789012345', '-123456789012345', '1234567890123456', '9007199254740991', '1.5', '-0.25e1', '12E-1', '0.0001'];
    for (const form of forms) {
      const value = parseStrictJson(form);
      expect(value instanceof JsonFloat ? value.value : value).toBe(JSON.parse(form));
    }
  });

  it.each(['-', '-a', '--1', '1.', '.5'])('refuses the malformed number %s', (text) => {
    expect(() => parseStrictJson(text)).toThrow(StrictJsonError);
  });

  it('reads a surrogate pair written as two escapes as its one character', () => {
    expect(parseStrictJson('{"a": "\\ud83d\\ude00"}')).toEqual({ a: '\u{1f600}' });
  });

  it('keeps a "__proto__" key an ordinary key', () => {
    const value = parseStrictJson('{"__proto__": {"polluted": 1}}') as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(value)).toEqual(['__proto__']);
  });
});

describe('caps checked before reading', () => {
  it('refuses a manifest above MAX_MANIFEST_BYTES from its size alone, without reading it', async () => {
    const base = new FsStore(V1_STORE);
    let reads = 0;
    const store = Object.assign(Object.create(base) as FsStore, {
      head: () => Promise.resolve({ size: MAX_MANIFEST_BYTES + 1 }),
      get: (key: string) => {
        reads++;
        return base.get(key);
      },
    });
    expect(await rejectionCode(() => loadManifest(store))).toBe('E_CORRUPT_MANIFEST');
    expect(reads).toBe(0);
  });

  it('refuses a ranged file read of 2^31 bytes or more with an error instead of aborting Node', async () => {
    const store = new FsStore(V1_STORE);
    expect(await rejectionCode(() => store.getRange('shards/000000.fkd', 0, 2 ** 31))).toBe('E_USAGE');
    expect(await rejectionCode(() => store.getRange('shards/000000.fkd', -1, 4))).toBe('E_USAGE');
  });
});

describe('incomplete stores', () => {
  it('are refused by openLabels and the loader unless allowIncomplete is given, and then read', async () => {
    const store = join(HOSTILE, 'incomplete');
    expect(await rejectionCode(() => openLabels(store, { allowFormat1: true }))).toBe('E_INCOMPLETE_STORE');
    const labels = await openLabels(store, { allowIncomplete: true, allowFormat1: true });
    let crops = 0;
    for await (const batch of createLoader({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 16, size: 8, workers: 0, onError: 'skip' })) crops += batch.size;
    expect(crops).toBe(labels.manifest.totals.records / labels.epochs);
  });
});

describe('finalize checks what it seals', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'fkd-strict-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });
  const copy = async (name: string): Promise<string> => {
    const directory = join(work, name);
    await cp(V1_STORE, directory, { recursive: true });
    await rm(join(directory, 'manifest.json'));
    return directory;
  };

  it('finalizes an intact store to the same manifest the label run wrote', async () => {
    const directory = await copy('intact');
    const manifest = await finalizeStore(await openStore(directory));
    expect(manifest.totals).toEqual(JSON.parse(await readFile(join(V1_STORE, 'manifest.json'), 'utf8')).totals);
  });

  it('refuses a shard with a flipped byte (same size) and names it and its entry', async () => {
    const directory = await copy('flipped');
    const path = join(directory, 'shards/000001.fkd');
    const bytes = await readFile(path);
    bytes[300] = (bytes[300] as number) ^ 0x01;
    await writeFile(path, bytes);
    const error = await finalizeStore(await openStore(directory)).catch((e: unknown) => e);
    expect(isFkdError(error, 'E_CORRUPT_SHARD')).toBe(true);
    expect((error as Error).message).toMatch(/000001\.fkd .*Delete shards\/000001\.json/);
  });

  it('names a corrupt config.json', async () => {
    const directory = await copy('config');
    await writeFile(join(directory, 'config.json'), '{"format": "fkd-labels-config", ');
    const error = await finalizeStore(await openStore(directory)).catch((e: unknown) => e);
    expect(isFkdError(error, 'E_CORRUPT_MANIFEST')).toBe(true);
    expect((error as Error).message).toMatch(/config\.json is corrupt/);
  });

  it('names a shard entry that describes another shard, instead of calling its shard missing', async () => {
    const directory = await copy('other-index');
    const path = join(directory, 'shards/000002.json');
    const entry = JSON.parse(await readFile(path, 'utf8'));
    entry.shard.index = 'x';
    await writeFile(path, JSON.stringify(entry));
    const error = await finalizeStore(await openStore(directory)).catch((e: unknown) => e);
    expect(isFkdError(error, 'E_CORRUPT_SHARD')).toBe(true);
    expect((error as Error).message).toMatch(/^Shard entry shards\/000002\.json is unreadable \(it describes shard "x" at "shards\/000002\.fkd", not shard 2 at shards\/000002\.fkd\)/);
  });

  it('calls a bad shard entry a bad input, naming the entries, never "a bug"', async () => {
    const directory = await copy('entry');
    const path = join(directory, 'shards/000002.json');
    const entry = JSON.parse(await readFile(path, 'utf8'));
    entry.shard.records = 7;
    await writeFile(path, JSON.stringify(entry));
    const error = await finalizeStore(await openStore(directory)).catch((e: unknown) => e);
    expect(isFkdError(error, 'E_CORRUPT_SHARD')).toBe(true);
    expect((error as Error).message).toMatch(/shard entries .* shards\[2\] claims 7 records/);
    expect((error as Error).message).not.toMatch(/bug/);
  });
});
