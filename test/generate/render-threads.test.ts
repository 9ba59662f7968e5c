import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { label, type LabelOptions } from '../../src/generate/label.js';
import { sharedRenderPool } from '../../src/render/pool.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

let work: string;
let data: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-render-threads-'));
  // The fixture photos and one file that is not an image: a skipped image must leave the same gap at any thread count.
  data = join(work, 'images');
  await cp(FIXTURE_IMAGES, data, { recursive: true });
  await writeFile(join(data, 'class-a-red', 'img-00-broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

// Batches of 5 and 6 crops per image: an image's crops straddle batches, and the 3-batch ring wraps many times.
const options = (out: string, extra: Partial<LabelOptions> = {}): LabelOptions => ({ data, teacher: FIXTURE_ONNX, out, epochs: 2, crops: 3, topK: 3, seed: 7, batch: 5, shardImages: 4, threads: 1, ...extra });

/** Every file of a store but the manifest (which names its creation time), by path. */
async function storeFiles(root: string): Promise<Map<string, Buffer>> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const names = entries.filter((entry) => entry.isFile() && entry.name !== 'manifest.json').map((entry) => relative(root, join(entry.parentPath, entry.name)));
  return new Map(await Promise.all(names.sort().map(async (name) => [name, await readFile(join(root, name))] as const)));
}

function expectSameStore(actual: Map<string, Buffer>, expected: Map<string, Buffer>, what: string): void {
  expect([...actual.keys()], what).toEqual([...expected.keys()]);
  for (const [name, bytes] of expected) expect(actual.get(name)!.equals(bytes), `${name} ${what}`).toBe(true);
}

describe('the label pass on render threads', () => {
  it('writes byte-identical stores with 0, 1 and 2 render threads', async () => {
    const stores = new Map<number, Map<string, Buffer>>();
    for (const renderThreads of [0, 1, 2]) {
      const out = join(work, `threads-${renderThreads}`);
      const result = await label(options(out, { renderThreads }));
      expect(result.skipped.map((skipped) => skipped.path)).toEqual(['class-a-red/img-00-broken.jpg']);
      expect(result.decodesPerImage).toBe(1);
      stores.set(renderThreads, await storeFiles(out));
    }
    expect([...stores.get(0)!.keys()].filter((name) => name.endsWith('.fkd'))).toHaveLength(7);
    expectSameStore(stores.get(1)!, stores.get(0)!, 'with 1 render thread against 0');
    expectSameStore(stores.get(2)!, stores.get(0)!, 'with 2 render threads against 0');
  }, 60_000);

  it('fails with E_WORKER when a render thread dies mid-pass, and a resume completes the store byte-identical', async () => {
    const clean = join(work, 'clean');
    await label(options(clean, { renderThreads: 2 }));
    const out = join(work, 'killed');
    const pool = sharedRenderPool(2);
    let killed = false;
    const error = await label(
      options(out, {
        renderThreads: 2,
        onProgress: (progress) => {
          // Fault injection: a thread stops as a crash would, with opens and renders still out.
          if (!killed && progress.shardsDone >= 2) {
            killed = true;
            void (pool as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots[0]!.worker.terminate();
          }
        },
      }),
    ).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(killed).toBe(true);
    expect(isFkdError(error, 'E_WORKER'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/Render thread 0 exited with code \d+.*run the label command again to resume/);
    expect(pool.broken).toBe(true);
    const written = (await readdir(join(out, 'shards'))).filter((name) => name.endsWith('.fkd'));
    expect(written.length).toBeGreaterThanOrEqual(2);
    expect(written.length).toBeLessThan(7);

    const resumed = await label(options(out, { renderThreads: 2 }));
    expect(resumed.shardsReused).toBe(written.length);
    expect(resumed.shardsWritten).toBe(7 - written.length);
    expectSameStore(await storeFiles(out), await storeFiles(clean), 'after a resume');
  }, 60_000);
});
