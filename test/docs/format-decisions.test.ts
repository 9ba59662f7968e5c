import { appendFile, cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { openLabels } from '../../src/store/labels.js';
import { sealManifest } from '../helpers/manifests.js';

/** The examples of docs/FORMAT.md §11 that are about whole stores, run against the committed reference store. */
const REFERENCE = fileURLToPath(new URL('../../fixtures/reference-store', import.meta.url));

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-format-decisions-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function copy(name: string): Promise<string> {
  const directory = join(work, name);
  await cp(REFERENCE, directory, { recursive: true });
  return directory;
}

describe('docs/FORMAT.md §11', () => {
  it('a ranged reader does not see bytes appended to a shard; verify does', async () => {
    const store = await copy('appended');
    const labels = await openLabels(store);
    const shard = labels.manifest.shards[0]!;
    await appendFile(join(store, shard.key), Uint8Array.of(1, 2, 3, 4));
    for (let epoch = 0; epoch < labels.epochs; epoch++) await expect(labels.readEpoch(shard, epoch)).resolves.toBeDefined();
    const report = await verifyStore(store);
    expect(report.shards.corrupt[0]).toMatchObject({ key: shard.key, code: 'E_CORRUPT_SHARD', error: expect.stringMatching(/has \d+ bytes where the manifest says \d+/) });
  });

  it('a shard under a non-canonical key is read; a key listed twice is refused', async () => {
    const store = await copy('renamed');
    const manifest = JSON.parse(await readFile(join(store, 'manifest.json'), 'utf8')) as { shards: Array<{ key: string }> };
    const first = manifest.shards[0]!;
    await rename(join(store, first.key), join(store, 'shards', 'a.fkd'));
    first.key = 'shards/a.fkd';
    await writeFile(join(store, 'manifest.json'), sealManifest(manifest));
    expect((await verifyStore(store)).ok).toBe(true);
    expect(manifest.shards.length).toBeGreaterThan(1);
    manifest.shards[1]!.key = 'shards/a.fkd';
    await writeFile(join(store, 'manifest.json'), sealManifest(manifest));
    await expect(openLabels(store)).rejects.toMatchObject({ code: 'E_CORRUPT_MANIFEST', message: expect.stringMatching(/shard key "shards\/a\.fkd" is listed twice/) });
  });
});
