import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { label } from '../../src/generate/label.js';
import { createLoader } from '../../src/loader/loader.js';
import { writeReport } from '../../src/report/report.js';
import { openLabels } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';
import { sealManifest } from '../helpers/manifests.js';

/**
 * A manifest whose dataset.classes were swapped or extended, re-signed, its fingerprint field
 * kept: the tree's fingerprint still matches that field, so only comparing the class list
 * with the tree (docs/FORMAT.md §3) catches it, in verify --data and in the loader alike.
 */
let work: string;
let store: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-dataset-check-'));
  store = join(work, 'labels');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: store, epochs: 1, crops: 2, topK: 2, threads: 1 });
}, 120_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function withClasses(name: string, edit: (classes: string[]) => string[]): Promise<string> {
  const copy = join(work, name);
  await cp(store, copy, { recursive: true });
  const manifest = JSON.parse(await readFile(join(copy, 'manifest.json'), 'utf8')) as { dataset: { classes: string[] } };
  manifest.dataset.classes = edit(manifest.dataset.classes);
  await writeFile(join(copy, 'manifest.json'), sealManifest(manifest));
  return copy;
}

async function loaderError(location: string, onError: 'throw' | 'skip'): Promise<unknown> {
  const labels = await openLabels(location);
  try {
    for await (const batch of createLoader({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 16, size: 8, workers: 0, onError })) expect(batch.size).toBeGreaterThan(0);
  } catch (error) {
    return error;
  }
  return 'accepted';
}

describe('the class list against the tree', () => {
  it('a manifest with a phantom class added fails verify --data and the loader, even with onError skip', async () => {
    const edited = await withClasses('phantom', (classes) => [...classes, 'phantom']);
    const rule = /its 4 class folders are not the manifest's 5 classes \(class 4: none in the tree, "phantom" in dataset\.classes\)/;
    expect((await verifyStore(store, { data: FIXTURE_IMAGES })).ok).toBe(true);
    const report = await verifyStore(edited, { data: FIXTURE_IMAGES });
    expect(report.ok).toBe(false);
    expect(report.dataset?.fingerprintMatches).toBe(false);
    expect(report.problems.join(' ')).toMatch(rule);
    for (const onError of ['throw', 'skip'] as const) expect(await loaderError(edited, onError)).toMatchObject({ code: 'E_DATASET_MISMATCH', message: expect.stringMatching(rule) });
    // fkd report's contact sheet takes the tree too: the same rule, the same verdict.
    await expect(writeReport(edited, { out: join(work, 'phantom.html'), data: FIXTURE_IMAGES, sample: 1 })).rejects.toMatchObject({ code: 'E_DATASET_MISMATCH', message: expect.stringMatching(rule) });
  });

  it('a manifest with its classes swapped is refused by every reader, tree or not: class folders are sorted', async () => {
    const edited = await withClasses('swapped', (classes) => [classes[1]!, classes[0]!, ...classes.slice(2)]);
    const refusal = { code: 'E_CORRUPT_MANIFEST', message: expect.stringMatching(/dataset\.classes is not sorted/) };
    await expect(openLabels(edited)).rejects.toMatchObject(refusal);
    await expect(verifyStore(edited, { data: FIXTURE_IMAGES })).rejects.toMatchObject(refusal);
  });
});
