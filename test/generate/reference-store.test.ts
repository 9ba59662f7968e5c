import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { label } from '../../src/generate/label.js';
import { comparableManifest } from '../helpers/manifests.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const REFERENCE = join(FIXTURES, 'reference-store');

async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(root, join(entry.parentPath, entry.name))).sort();
}

/** The manifest without what names the moment and the tool version that wrote it (and the self-hash that covers both). */
function stableManifest(bytes: Buffer): unknown {
  return { ...comparableManifest(bytes), tool: null };
}

let work: string;
let fresh: string;
let spec: { data: string; teacher: string; options: Record<string, number> };
beforeAll(async () => {
  spec = JSON.parse(await readFile(join(FIXTURES, 'reference-store.json'), 'utf8')) as { data: string; teacher: string; options: Record<string, number> };
  work = await mkdtemp(join(tmpdir(), 'fkd-reference-'));
  fresh = join(work, 'labels');
  await label({ ...spec.options, data: join(FIXTURES, spec.data), teacher: join(FIXTURES, spec.teacher), out: fresh });
}, 120_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the committed reference store (scripts/make-reference-store.js)', () => {
  it('is reproduced byte for byte by a fresh label run: config, every shard and every shard entry', async () => {
    const names = await files(REFERENCE);
    expect(names).toContain('shards/000002.fkd');
    expect(await files(fresh)).toEqual(names);
    for (const name of names.filter((name) => name !== 'manifest.json')) {
      const [expected, actual] = await Promise.all([readFile(join(REFERENCE, name)), readFile(join(fresh, name))]);
      expect(actual.equals(expected), name).toBe(true);
    }
  });

  it('is reproduced byte for byte with 0, 1 and 2 render threads', async () => {
    const names = (await files(REFERENCE)).filter((name) => name !== 'manifest.json');
    for (const renderThreads of [0, 1, 2]) {
      const out = join(work, `threads-${renderThreads}`);
      await label({ ...spec.options, data: join(FIXTURES, spec.data), teacher: join(FIXTURES, spec.teacher), out, renderThreads });
      for (const name of names) {
        const [expected, actual] = await Promise.all([readFile(join(REFERENCE, name)), readFile(join(out, name))]);
        expect(actual.equals(expected), `${name} with ${renderThreads} render threads`).toBe(true);
      }
    }
  }, 120_000);

  it('has the same manifest apart from its creation time and tool version', async () => {
    const [expected, actual] = await Promise.all([readFile(join(REFERENCE, 'manifest.json')), readFile(join(fresh, 'manifest.json'))]);
    expect(stableManifest(actual)).toEqual(stableManifest(expected));
  });
});
