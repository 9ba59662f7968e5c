import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { label } from '../../src/generate/label.js';
import type { Batch } from '../../src/loader/batch.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

// Digests of batches the loader produced at 47be659, before it was split into stages and given
// a shared batch ring. Every later loader must stream the same bytes for the same store and
// options: pixels, top-k classes and probabilities, dense targets and provenance.
// Regenerate (only when a change of output is intended and documented): FKD_WRITE_REFERENCE=1.
const REFERENCE = fileURLToPath(new URL('./fixtures/reference-batches.json', import.meta.url));

/** Option sets that cover layouts, dtypes, threads, crops straddling batches, ranks, temperature and dropLast. */
const CASES: Record<string, Partial<LoaderOptions>> = {
  nhwcFloat: { batchSize: 8, size: 32, workers: 0 },
  nchwFloatThreads: { batchSize: 10, size: 40, layout: 'nchw', workers: 2, shuffle: 5, epoch: 1 },
  uint8Temperature: { batchSize: 7, size: 24, layout: 'nchw', dtype: 'uint8', epoch: 3, temperature: 0.5, dropLast: true, workers: 1 },
  uint8Rank: { batchSize: 6, size: 28, dtype: 'uint8', rank: 1, worldSize: 2, interpolation: 'bicubic', workers: 2, prefetch: 0, concurrency: 1 },
  teacherSize: { batchSize: 16, shuffle: false, layout: 'nchw', workers: 2, prefetch: 4 },
};

let work: string;
let labels: LabelSet;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-loader-ref-'));
  const store = join(work, 'labels');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: store, epochs: 2, crops: 3, topK: 3, shardImages: 7, threads: 1 });
  labels = await openLabels(store);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const bytes = (view: ArrayBufferView): Buffer => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

function digest(batch: Batch): { size: number; images: string; targets: string; meta: string } {
  const hash = (...parts: Array<Buffer | string>) => {
    const h = createHash('sha256');
    for (const part of parts) h.update(part);
    return h.digest('hex').slice(0, 32);
  };
  return {
    size: batch.size,
    images: hash(batch.images instanceof Float32Array ? 'f32' : 'u8', batch.layout, String(batch.imageSize), bytes(batch.images)),
    targets: hash(bytes(batch.targets.classes), bytes(batch.targets.probs), bytes(batch.targets.dense())),
    meta: hash(JSON.stringify(batch.meta)),
  };
}

async function run(extra: Partial<LoaderOptions>) {
  const out = [];
  for await (const batch of createLoader({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 8, ...extra })) out.push(digest(batch));
  return out;
}

describe('loader output against the reference loader', () => {
  it('streams byte-identical batches to the loader before the stages and the ring', async () => {
    const got: Record<string, unknown> = {};
    for (const [name, extra] of Object.entries(CASES)) got[name] = await run(extra);
    if (process.env.FKD_WRITE_REFERENCE === '1') await writeFile(REFERENCE, `${JSON.stringify(got, null, 1)}\n`);
    expect(existsSync(REFERENCE), 'reference digests are committed').toBe(true);
    const want = JSON.parse(await readFile(REFERENCE, 'utf8')) as Record<string, unknown>;
    for (const name of Object.keys(CASES)) expect(got[name], name).toEqual(want[name]);
  });
  it('decodes the fixture JPEGs in-thread under the store\'s rule, and streams the bytes sharp-decoded batches have', async () => {
    const stats = async (extra: Partial<LoaderOptions>) => {
      const loader = createLoader({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 8, ...extra });
      const digests = [];
      for await (const batch of loader) digests.push(digest(batch));
      return { digests, decodes: loader.stats.decodes, inThread: loader.stats.inThreadDecodes };
    };
    for (const name of ['nchwFloatThreads', 'uint8Rank'] as const) {
      const auto = await stats(CASES[name]!);
      const viaSharp = await stats({ ...CASES[name], decoder: 'sharp' });
      expect(auto.decodes, name).toBeGreaterThan(0);
      expect(auto.inThread, `${name}: every fixture JPEG is a plain 4:2:0 one`).toBe(auto.decodes);
      expect(viaSharp.inThread, name).toBe(0);
      expect(viaSharp.digests, name).toEqual(auto.digests);
    }
    // On the calling thread (workers: 0) the store's rule applies too: replay must not depend on threads.
    const calling = await stats(CASES.nhwcFloat!);
    expect(calling.inThread).toBe(calling.decodes);
  });
});
