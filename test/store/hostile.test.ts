import { rejectionCode } from '../helpers/errors.js';
import { readFileSync } from 'node:fs';
import { resourceUsage } from 'node:process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { isFkdError } from '../../src/errors.js';
import { createLoader } from '../../src/loader/loader.js';
import { openLabels } from '../../src/store/labels.js';
import { FIXTURE_IMAGES } from '../helpers/cli.js';

/**
 * Every store in test/fixtures/hostile (made by scripts/make-hostile-stores.js) has valid
 * hashes and one hostile change. verify, openLabels + readEpoch and the loader must each
 * reject it with the code cases.json names, and none may take much memory doing so.
 */
const HOSTILE = fileURLToPath(new URL('../fixtures/hostile', import.meta.url));
const cases = JSON.parse(readFileSync(`${HOSTILE}/cases.json`, 'utf8')) as Array<{ name: string; code: string; description: string }>;

/** Peak RSS may grow by at most this much while all the hostile stores are read. */
const MEMORY_BOUND_BYTES = 256 * 1024 * 1024;

async function verifyCode(store: string): Promise<string> {
  let report;
  try {
    report = await verifyStore(store, { data: FIXTURE_IMAGES, allowFormat1: true });
  } catch (error) {
    if (!isFkdError(error)) throw error;
    return error.code;
  }
  return report.shards.corrupt[0]?.code ?? (report.ok ? 'accepted' : `not ok: ${report.problems.join(' ')}`);
}

async function readAll(store: string): Promise<void> {
  const labels = await openLabels(store, { allowFormat1: true });
  for (const shard of labels.manifest.shards) {
    await labels.readImages(shard);
    for (let epoch = 0; epoch < labels.epochs; epoch++) await labels.readEpoch(shard, epoch);
  }
}

async function loadAll(store: string): Promise<void> {
  const labels = await openLabels(store, { allowFormat1: true });
  for (let epoch = 0; epoch < labels.epochs; epoch++) {
    for await (const batch of createLoader({ data: FIXTURE_IMAGES, labels, epoch, batchSize: 16, size: 8, workers: 0 })) expect(batch.size).toBeGreaterThan(0);
  }
}

let peakBefore = 0;
beforeAll(() => {
  peakBefore = resourceUsage().maxRSS * 1024;
});

describe('hostile stores with valid hashes', () => {
  it('are all there (the script wrote them)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });

  for (const { name, code, description } of cases) {
    it(`${name}: ${description} → ${code} from verify, openLabels/readEpoch and the loader`, async () => {
      const store = `${HOSTILE}/${name}`;
      expect(await verifyCode(store)).toBe(code);
      expect(await rejectionCode(() => readAll(store))).toBe(code);
      expect(await rejectionCode(() => loadAll(store))).toBe(code);
    });
  }

  afterAll(() => {
    const grown = resourceUsage().maxRSS * 1024 - peakBefore;
    expect(grown).toBeLessThan(MEMORY_BOUND_BYTES);
  });
});

describe('the rejection messages name the object, the block and the rule', () => {
  it('names shard, epoch, record and rule for a class beyond the class count', async () => {
    const error = await openLabels(`${HOSTILE}/class-beyond-count`, { allowFormat1: true }).then((labels) => labels.readEpoch(labels.manifest.shards[0]!, 0)).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/shards\/000000\.fkd is corrupt: epoch 0 record 17: class 7 ≥ 4 classes/);
  });

  it('names the manifest field and the rule for a float where an integer is meant', async () => {
    const error = await openLabels(`${HOSTILE}/manifest-float-records`, { allowFormat1: true }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/manifest\.json is invalid: expected an integer, written without a fraction or exponent for shards\[0\]\.records/);
  });

  it('says a copied shard holds the wrong images', async () => {
    const report = await verifyStore(`${HOSTILE}/shard-copied`, { allowFormat1: true });
    expect(report.shards.corrupt[0]?.error).toMatch(/000001\.fkd is corrupt: image block: imageStart is 0 where the manifest says 10/);
  });
});
