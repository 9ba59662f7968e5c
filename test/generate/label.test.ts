import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { label, type LabelOptions } from '../../src/generate/label.js';
import { storeInfo } from '../../src/check/info.js';
import { parseManifest } from '../../src/store/manifest.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, FIXTURE_TFJS } from '../helpers/cli.js';
import * as images from '../helpers/images.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-label-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const base = (out: string, extra: Partial<LabelOptions> = {}): LabelOptions => ({
  data: FIXTURE_IMAGES,
  teacher: FIXTURE_ONNX,
  out,
  epochs: 2,
  crops: 3,
  topK: 3,
  shardImages: 5,
  threads: 1,
  ...extra,
});

/** Every shard object of a store, by key. */
async function shardBytes(store: string): Promise<Map<string, Buffer>> {
  const files = (await readdir(join(store, 'shards'))).filter((f) => f.endsWith('.fkd')).sort();
  return new Map(await Promise.all(files.map(async (f) => [f, await readFile(join(store, 'shards', f))] as const)));
}

describe('label pass', () => {
  it('labels every crop of every image and writes a complete manifest', async () => {
    const out = join(work, 'basic');
    const result = await label(base(out));
    expect(result.images).toBe(24);
    expect(result.crops).toBe(24 * 2 * 3);
    expect(result.decodesPerImage).toBe(1);
    expect(result.finalized).toBe(true);
    expect(result.teacher).toMatchObject({ engine: 'onnx', inputSize: 64, numClasses: 4 });
    const manifest = parseManifest(await readFile(join(out, 'manifest.json'), 'utf8'), out);
    expect(manifest.complete).toBe(true);
    expect(manifest.shards).toHaveLength(5);
    expect(manifest.totals.records).toBe(144);
    expect(manifest.shards.map((s) => s.layout.epochs.length)).toEqual([2, 2, 2, 2, 2]);
    const info = await storeInfo(out);
    expect(info).toMatchObject({ complete: true, images: 24, records: 144, epochs: 2, crops: 3, topK: 3, classes: 4 });
    expect(info.bytesPerRecord).toBeGreaterThan(0);
  });

  it('writes byte-identical shards whatever the batch size and concurrency', async () => {
    const a = join(work, 'det-a');
    const b = join(work, 'det-b');
    await label(base(a, { batch: 7, concurrency: 1 }));
    await label(base(b, { batch: 64, concurrency: 8 }));
    const shardsA = await shardBytes(a);
    const shardsB = await shardBytes(b);
    expect([...shardsA.keys()]).toEqual([...shardsB.keys()]);
    for (const [key, bytes] of shardsA) expect(bytes.equals(shardsB.get(key)!), key).toBe(true);
  });

  it('labels with a TF.js teacher too', async () => {
    const result = await label(base(join(work, 'tfjs'), { teacher: FIXTURE_TFJS, epochs: 1, crops: 2 }));
    expect(result.teacher.engine).toBe('tfjs');
    expect(result.crops).toBe(48);
  });

  it('skips unreadable images, records why, and still succeeds', async () => {
    const data = join(work, 'bad-data');
    await cp(FIXTURE_IMAGES, data, { recursive: true });
    const dir = join(data, 'class-b-green');
    await images.writeTruncatedJpeg(dir, 'truncated.jpg');
    await images.writeZeroByte(dir, 'zero.jpg');
    await images.writeNotAnImage(dir, 'text.jpg');
    await images.writeBombPng(dir, 'bomb.png');
    const out = join(work, 'bad-out');
    const result = await label(base(out, { data, maxPixels: 50_000_000 }));
    expect(result.skipped.map((s) => s.path).sort()).toEqual(['class-b-green/bomb.png', 'class-b-green/text.jpg', 'class-b-green/truncated.jpg', 'class-b-green/zero.jpg']);
    expect(result.images).toBe(24);
    const info = await storeInfo(out);
    expect(info.images).toBe(28);
    expect(info.records).toBe(24 * 6);
    expect(info.skipped.find((s) => s.path.endsWith('bomb.png'))?.reason).toMatch(/decompression bomb/);
    expect(info.skipped.find((s) => s.path.endsWith('truncated.jpg'))?.reason).toMatch(/truncated|premature/i);
  });

  it('refuses a teacher whose output width differs from the class count before doing any work', async () => {
    const out = join(work, 'wrong-classes');
    await expect(label(base(out, { teacher: FIXTURE_ONNX.replace('tiny.onnx', 'wrong-classes.onnx') }))).rejects.toSatisfy(
      (error) => isFkdError(error, 'E_MODEL_SHAPE') && /7 classes.*4 class folders/s.test((error as Error).message),
    );
    await expect(readdir(out)).rejects.toThrow();
  });

  it('refuses to resume a store made with other options, naming them', async () => {
    const out = join(work, 'mismatch');
    await label(base(out));
    await expect(label(base(out, { epochs: 3, seed: 9 }))).rejects.toSatisfy(
      (error) => isFkdError(error, 'E_OPTIONS_MISMATCH') && /sampler\.seed: 0 → 9/.test((error as Error).message) && /sampler\.epochs: 2 → 3/.test((error as Error).message),
    );
  });

  it('stops cleanly at a shard boundary when aborted, and resumes to the same bytes', async () => {
    const out = join(work, 'abort');
    const controller = new AbortController();
    await expect(
      label(
        base(out, {
          shardImages: 2,
          signal: controller.signal,
          onProgress: (p) => {
            if (p.shardsDone >= 2) controller.abort();
          },
        }),
      ),
    ).rejects.toSatisfy((error) => (error as Error).name === 'AbortError' || isFkdError(error, 'E_ABORTED'));
    const done = (await readdir(join(out, 'shards'))).filter((f) => f.endsWith('.json'));
    expect(done.length).toBeGreaterThanOrEqual(2);
    expect(done.length).toBeLessThan(12);
    await expect(readFile(join(out, 'manifest.json'))).rejects.toThrow();
    const resumed = await label(base(out, { shardImages: 2 }));
    expect(resumed.shardsReused).toBe(done.length);
    expect(resumed.shardsWritten).toBe(12 - done.length);
    const clean = join(work, 'abort-clean');
    await label(base(clean, { shardImages: 2 }));
    const a = await shardBytes(out);
    const b = await shardBytes(clean);
    expect(a.size).toBe(12);
    for (const [key, bytes] of b) expect(a.get(key)?.equals(bytes), key).toBe(true);
  });

  it('remakes a finished shard whose bytes were damaged instead of trusting it', async () => {
    const out = join(work, 'damaged');
    await label(base(out));
    const victim = join(out, 'shards', '000001.fkd');
    const bytes = await readFile(victim);
    bytes[bytes.length - 3]! ^= 0xff;
    await writeFile(victim, bytes);
    const again = await label(base(out));
    expect(again.shardsWritten).toBe(1);
    expect(again.shardsReused).toBe(4);
    const clean = join(work, 'damaged-clean');
    await label(base(clean));
    expect((await readFile(victim)).equals(await readFile(join(clean, 'shards', '000001.fkd')))).toBe(true);
  });
});
