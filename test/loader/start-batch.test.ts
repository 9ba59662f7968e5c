import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { label } from '../../src/generate/label.js';
import type { Batch } from '../../src/loader/batch.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import type { BatchTransform } from '../../src/loader/transforms.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { FkdError } from '../../src/errors.js';
import { thrownError } from '../helpers/errors.js';
import { collectBatches } from '../helpers/batches.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

let work: string;
let labels: LabelSet;

// 24 images × 3 crops: batch sizes that are not multiples of 3 make a resume start inside an image.
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-start-batch-'));
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: join(work, 'labels'), epochs: 2, crops: 3, topK: 2, threads: 1 });
  labels = await openLabels(join(work, 'labels'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const options = (extra: Partial<LoaderOptions> = {}): LoaderOptions => ({ data: FIXTURE_IMAGES, labels, epoch: 1, batchSize: 4, size: 10, workers: 0, copy: true, ...extra });

/** Everything a batch carries, as one comparable value. */
function content(batch: Batch): unknown {
  return {
    images: Buffer.from(batch.images.buffer, batch.images.byteOffset, batch.images.byteLength).toString('base64'),
    classes: [...batch.targets.classes],
    probs: [...batch.targets.probs],
    dense: [...batch.targets.dense()],
    meta: batch.meta,
  };
}

/** A transform whose draws show in the pixels: it adds a draw keyed by the batch to the first value. */
const marker: BatchTransform = (batch, context) => {
  batch.images[0] = batch.images[0]! + (batch.images instanceof Uint8Array ? context.random.below(7) : context.random.next());
};

const cases: Array<[string, Partial<LoaderOptions>]> = [
  ['in dataset order', { shuffle: false }],
  ['shuffled, a batch that splits images', { shuffle: 7, batchSize: 5 }],
  ['rank 1 of 3, dropLast', { shuffle: 2, rank: 1, worldSize: 3, dropLast: true }],
  ['rank 2 of 3, a short last batch', { shuffle: 2, rank: 2, worldSize: 3, batchSize: 5 }],
  ['Mixup and CutMix, uint8 NCHW', { shuffle: 4, batchSize: 5, dtype: 'uint8', layout: 'nchw', mix: { mode: 'both', alpha: 0.7, seed: 9 } }],
  ['a transform, a render thread', { shuffle: 1, batchSize: 7, workers: 1, transforms: [marker] }],
  ['a batch smaller than an image', { shuffle: 5, batchSize: 2 }],
];

describe('loader startBatch', () => {
  it.each(cases)('batches from startBatch = k on equal batches k… of the whole epoch, for every k (%s)', async (_name, extra) => {
    const whole = await collectBatches(createLoader(options(extra)));
    expect(whole.length).toBeGreaterThan(2);
    const expected = whole.map(content);
    for (let k = 0; k <= whole.length; k++) {
      const loader = createLoader(options({ ...extra, startBatch: k }));
      const tail = await collectBatches(loader);
      expect(tail.map(content), `startBatch ${k}`).toEqual(expected.slice(k));
      expect(loader.stats.batches).toBe(whole.length - k);
    }
  });

  it('reads only the images of the batches it yields (the one the start falls in included)', async () => {
    const batchSize = 5;
    const crops = 3;
    const whole = createLoader(options({ shuffle: 3, batchSize }));
    await collectBatches(whole);
    expect(whole.stats.decodes).toBe(24);
    for (const k of [1, 2, 3, 9, 14]) {
      const loader = createLoader(options({ shuffle: 3, batchSize, startBatch: k }));
      await collectBatches(loader);
      const firstImage = Math.floor((k * batchSize) / crops);
      expect(loader.stats.decodes, `startBatch ${k}`).toBe(24 - firstImage);
      expect(loader.stats.images).toBe(24 - firstImage);
    }
  });

  it('refuses a start past the end of the epoch, naming the batch count', async () => {
    // 24 images × 3 crops / 4 per batch = 18 batches: 18 is the (empty) end, 19 is past it.
    await expect(collectBatches(createLoader(options({ startBatch: 18 })))).resolves.toEqual([]);
    const refused = await collectBatches(createLoader(options({ startBatch: 19 }))).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(FkdError);
    expect(refused).toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/startBatch in 0\.\.18 .* received 19/) });
  });

  it.each([[-1], [1.5], ['3'], [Number.MAX_SAFE_INTEGER + 2]])('refuses startBatch %s with E_USAGE before reading anything', (value) => {
    const error = thrownError(() => createLoader(options({ startBatch: value as number })));
    expect(error.code).toBe('E_USAGE');
    expect(error.message).toMatch(/startBatch/);
  });
});
