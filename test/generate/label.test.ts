import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { label, type LabelOptions } from '../../src/generate/label.js';
import { storeInfo } from '../../src/check/info.js';
import { verifyStore } from '../../src/check/verify.js';
import { parseManifest } from '../../src/store/manifest.js';
import sharp from 'sharp';
import { DECODE_BYTES_PER_PIXEL } from '../../src/dataset/decode.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, FIXTURE_TFJS, runCli } from '../helpers/cli.js';
import { tinyOnnx } from '../teacher/helpers.js';
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
    // The path is shown beside the reason; the reason must not say it again.
    for (const skipped of result.skipped) expect(skipped.reason).not.toContain(skipped.path);
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

  it('lets exactly one of two runs with different options started together on one --out claim it, and the store is sound', async () => {
    const out = join(work, 'race');
    const outcomes = await Promise.allSettled([label(base(out, { seed: 1 })), label(base(out, { seed: 2 }))]);
    const lost = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(isFkdError((lost[0] as PromiseRejectedResult).reason, 'E_OPTIONS_MISMATCH')).toBe(true);
    expect((await verifyStore(out, { data: FIXTURE_IMAGES })).ok).toBe(true);
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

describe('label pass on bad input', () => {
  /** A copy of the fixture tree the test may spoil. */
  async function spoilable(name: string): Promise<string> {
    const data = join(work, name);
    await cp(FIXTURE_IMAGES, data, { recursive: true });
    return data;
  }

  it('fails without finalizing when no image could be labelled, and minImages 0 lets it through', async () => {
    const data = join(work, 'lfs-pointers');
    for (const name of ['a', 'b', 'c', 'd']) {
      await mkdir(join(data, name), { recursive: true });
      // What a clone without `git lfs pull` leaves behind.
      await writeFile(join(data, name, 'x.jpg'), 'version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n');
    }
    const out = join(work, 'lfs-out');
    await expect(label(base(out, { data }))).rejects.toSatisfy(
      (error) => isFkdError(error, 'E_TOO_FEW_IMAGES') && /Only 0 of 4 images could be labelled, fewer than minImages 1 \(skipped because: not a readable image/.test((error as Error).message),
    );
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);
    await expect(label(base(out, { data, minImages: 0 }))).resolves.toMatchObject({ images: 0, imagesWithRecords: 0, finalized: true });
  });

  it('refuses an SVG by its detected format whatever its name, unless allowSvg', async () => {
    const data = await spoilable('svg-data');
    await images.writeSvgNamedJpeg(join(data, 'class-a-red'));
    const refused = await label(base(join(work, 'svg-out'), { data }));
    expect(refused.skipped).toEqual([{ index: 6, path: 'class-a-red/svg-named.jpg', reason: expect.stringMatching(/^an SVG image \(detected from its bytes\); refused .* --allow-svg/) }]);
    const allowed = await label(base(join(work, 'svg-allowed'), { data, allowSvg: true }));
    expect(allowed.skipped).toEqual([]);
    expect(allowed.images).toBe(25);
  });

  it('labels past dangling links, FIFOs and bad names, and keeps what it passed over in the manifest', async () => {
    const data = await spoilable('messy-data');
    await symlink(join(data, 'nothing.jpg'), join(data, 'class-a-red', 'dangling.jpg'));
    execFileSync('mkfifo', [join(data, 'class-b-green', 'pipe.jpg')]);
    await writeFile(Buffer.concat([Buffer.from(join(data, 'class-c-blue', 'bad-')), Buffer.from([0xff]), Buffer.from('.jpg')]), 'x');
    await writeFile(join(data, 'class-d-yellow', 'scan.bmp'), 'x');
    const out = join(work, 'messy-out');
    const result = await label(base(out, { data }));
    expect(result.images).toBe(24);
    expect(result.excluded.counts).toEqual({ 'dangling-link': 1, 'special-file': 1, 'unusable-name': 1, 'unsupported-format': 1 });
    const manifest = parseManifest(await readFile(join(out, 'manifest.json'), 'utf8'), out);
    expect(manifest.scan).toEqual(result.excluded);
    expect(manifest.scan!.entries.map((e) => e.path)).toContain('class-b-green/pipe.jpg');
    await expect(label(base(join(work, 'messy-strict'), { data, onBadEntry: 'throw' }))).rejects.toSatisfy((error) => isFkdError(error, 'E_BAD_ENTRY'));
  });

  it('drops the record of what the scan passed over once the tree is clean again', async () => {
    const data = await spoilable('cleaned-data');
    const link = join(data, 'class-a-red', 'dangling.jpg');
    await symlink(join(data, 'nothing.jpg'), link);
    const out = join(work, 'cleaned-out');
    await label(base(out, { data }));
    expect(existsSync(join(out, 'scan.json'))).toBe(true);
    await rm(link);
    const again = await label(base(out, { data }));
    expect(again.shardsReused).toBe(5);
    expect(existsSync(join(out, 'scan.json'))).toBe(false);
    expect(parseManifest(await readFile(join(out, 'manifest.json'), 'utf8'), out).scan).toBeUndefined();
  });

  it('counts a symlinked class folder as the class it is, so the teacher\'s class count matches', async () => {
    const data = join(work, 'linked-class');
    await mkdir(data);
    for (const name of ['class-a-red', 'class-b-green', 'class-c-blue']) await cp(join(FIXTURE_IMAGES, name), join(data, name), { recursive: true });
    await symlink(join(FIXTURE_IMAGES, 'class-d-yellow'), join(data, 'class-d-yellow'));
    const result = await label(base(join(work, 'linked-out'), { data }));
    expect(result.images).toBe(24);
  });

  it('refuses an --out inside --data, and the reverse, before the teacher loads', async () => {
    const data = await spoilable('nested-data');
    for (const [input, output] of [
      [data, join(data, 'labels')],
      [join(data, 'class-a-red'), data],
    ] as const) {
      await expect(label(base(output, { data: input, teacher: join(work, 'no-such-teacher.onnx') }))).rejects.toSatisfy(
        (error) => isFkdError(error, 'E_USAGE') && /is inside .*: the store's files would be scanned as part of the dataset/.test((error as Error).message),
      );
    }
    expect(existsSync(join(data, 'labels'))).toBe(false);
  });

  it('bounds decoded pixels in flight by the memory budget, not by a count of images', async () => {
    const data = join(work, 'huge-images');
    const side = 8000;
    for (const name of ['a', 'b']) {
      await mkdir(join(data, name), { recursive: true });
      for (const i of [0, 1]) await sharp({ create: { width: side, height: side, channels: 3, background: { r: 60 * i, g: 40, b: 200 } } }).jpeg().toFile(join(data, name, `${i}.jpg`));
    }
    const teacher = join(work, 'two-classes.onnx');
    await writeFile(teacher, tinyOnnx(['batch', 3, 64, 64], { classes: 2 }));
    // Peak RSS of a whole CLI run, reported by the process itself as it exits.
    const probe = join(work, 'max-rss.cjs');
    await writeFile(probe, "process.on('exit', () => require('node:fs').writeSync(2, `maxrss ${process.resourceUsage().maxRSS * 1024}\\n`));\n");
    const peak = async (memory: number): Promise<number> => {
      const result = await runCli(['label', '--data', data, '--teacher', teacher, '--out', join(work, `huge-out-${memory}`), '--crops', '1', '--threads', '1', '--concurrency', '4', '--memory', String(memory)], { node: ['-r', probe] });
      expect(result.code, result.stderr).toBe(0);
      return Number(/maxrss (\d+)/.exec(result.stderr)![1]);
    };
    const image = side * side * DECODE_BYTES_PER_PIXEL;
    // 1024 MiB: a quarter is room for one image at a time. 16 GiB: for all four, as many as
    // the look-ahead allows. The allocator and the collector blur RSS by about an image.
    const bounded = await peak(1024);
    const unbounded = await peak(16_384);
    expect(unbounded - bounded, `bounded ${bounded}, unbounded ${unbounded}`).toBeGreaterThan(image);
  }, 120_000);
});
