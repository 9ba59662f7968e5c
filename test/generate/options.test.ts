import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { label, type LabelOptions } from '../../src/generate/label.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';
import { tinyOnnx } from '../teacher/helpers.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-options-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function refusedBeforeWork(extra: Partial<LabelOptions>, message: RegExp): Promise<void> {
  const out = join(work, `out-${Math.random().toString(36).slice(2)}`);
  const error = await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out, threads: 1, ...extra }).then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(isFkdError(error, 'E_USAGE'), String(error)).toBe(true);
  expect((error as Error).message).toMatch(message);
  // Refused before any byte: the store was never created, so nothing is left to delete.
  expect(existsSync(out)).toBe(false);
}

describe('label() options', () => {
  it.each([
    ['scale above 1', { scale: [0.5, 2] as [number, number] }, /for scale/],
    ['a negative std', { std: [-1, 1, 1] as [number, number, number] }, /for std/],
    ['a seed past 2^53', { seed: 1e30 }, /for seed/],
    ['a seed a double cannot hold', { seed: 2 ** 53 + 2 }, /for seed/],
    ['max pixels of 1e30', { maxPixels: 1e30 }, /for maxPixels/],
    ['shard images of 1e20', { shardImages: 1e20 }, /for shardImages/],
    ['a billion crops', { crops: 1e9 }, /for crops/],
    ['a billion batch', { batch: 1e9 }, /for batch/],
    ['a 100000 px size', { size: 100_000 }, /for size/],
    ['a billion epochs', { epochs: 1e9 }, /for epochs/],
    ['100000 threads', { threads: 100_000 }, /for threads .*per core/],
    ['a NaN temperature', { temperature: Number.NaN }, /for temperature/],
    ['an unknown rebuild', { rebuild: 'hard' as 'marginal' }, /one of marginal, renorm for rebuild/],
    ['an unknown target (the deprecated name of rebuild)', { target: 'hard' as 'marginal' }, /one of marginal, renorm for rebuild/],
  ])('refuses %s before the teacher loads or a byte is written', async (_name, extra, message) => {
    await refusedBeforeWork(extra, message);
  });

  it('refuses options whose buffers exceed the memory budget, with the figure', async () => {
    await refusedBeforeWork({ epochs: 10_000, crops: 100, memory: 1024 }, /One shard's records would need 36\.3 GiB \(epochs 10000 × shardImages 1000 × crops 100 × 39 B at top-5\), above the memory budget of 1\.0 GiB \(memory 1024\)/);
    await refusedBeforeWork({ batch: 4096, size: 2048, memory: 1024 }, /The teacher batches would need 768 GiB \(batch 4096 × 2048² px × 12 B × 4 batches\).*Lower batch to 5 or less, or size/);
  });

  it('refuses shards whose epoch blocks the format could not read back', async () => {
    await refusedBeforeWork({ shardImages: 1_000_000, crops: 100 }, /epoch blocks of .* above the format's 256 MiB limit per block\. Use shardImages 95443 or fewer/);
  });

  it('refuses a teacher whose fixed input makes the batch too large, after loading it but before writing', async () => {
    const model = join(work, 'huge-input.onnx');
    await writeFile(model, tinyOnnx(['batch', 3, 8192, 8192]));
    await refusedBeforeWork({ teacher: model, batch: 32, memory: 4096 }, /The teacher batches would need 96\.0 GiB \(batch 32 × 8192² px × 12 B × 4 batches\).*Lower batch to 1 or less\./);
  });

  it('refuses top-k above the class count before writing', async () => {
    await refusedBeforeWork({ topK: 5 }, /topK between 1 and 4/);
  });
});
