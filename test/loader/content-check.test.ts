import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { label } from '../../src/generate/label.js';
import { createLoader, type LoaderOptions } from '../../src/loader/loader.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';
import { rejectionCode } from '../helpers/errors.js';

const V1_STORE = fileURLToPath(new URL('../fixtures/v1-store', import.meta.url));
const VICTIM = 'class-b-green/img-2.jpg';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-content-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A private copy of the fixture images, so a test can change one. */
async function copyImages(name: string): Promise<string> {
  const data = join(work, name);
  await cp(FIXTURE_IMAGES, data, { recursive: true });
  return data;
}

/** Every sample of one epoch, or the error code that stopped it. */
async function drain(options: LoaderOptions): Promise<{ crops: number; code?: string }> {
  let crops = 0;
  try {
    for await (const batch of createLoader(options)) crops += batch.size;
    return { crops };
  } catch (error) {
    return { crops, code: (error as { code?: string }).code ?? 'not an FkdError' };
  }
}

/** Rewrites a file with one byte changed in its middle: same size, same name, other content. */
async function flipOneByte(file: string): Promise<void> {
  const bytes = await readFile(file);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0x01;
  await writeFile(file, bytes);
}

/** Replaces a JPEG with one of twice its width and height, padded to the very same byte size. */
async function replaceWithLargerSameSize(file: string): Promise<void> {
  const before = (await stat(file)).size;
  const meta = await sharp(file).metadata();
  const larger = await sharp({ create: { width: meta.width * 2, height: meta.height * 2, channels: 3, background: { r: 9, g: 200, b: 30 } } }).jpeg({ quality: 20 }).toBuffer();
  expect(larger.length).toBeLessThan(before);
  // JPEG decoders stop at the end-of-image marker, so the zero padding is never read as pixels.
  await writeFile(file, Buffer.concat([larger, Buffer.alloc(before - larger.length)]));
  expect((await stat(file)).size).toBe(before);
}

describe('images checked by content (format 2)', () => {
  let data: string;
  let labels: LabelSet;
  beforeAll(async () => {
    data = await copyImages('v2-data');
    const out = join(work, 'v2-labels');
    await label({ data, teacher: FIXTURE_ONNX, out, epochs: 1, crops: 2, topK: 2, shardImages: 10, threads: 1 });
    labels = await openLabels(out);
  });

  it('stores a content hash per image and replays every crop while the files are unchanged', async () => {
    expect(labels.manifest.version).toBe(2);
    const images = await labels.readImages(labels.manifest.shards[0]!);
    expect(images.contentHashes?.length).toBe(8 * images.imageCount);
    const loader = createLoader({ data, labels, epoch: 0, batchSize: 8, size: 16, workers: 0 });
    let crops = 0;
    for await (const batch of loader) crops += batch.size;
    expect(crops).toBe(48);
    expect(loader.stats.contentChecked).toBe(true);
  });

  it('refuses an image rewritten to the same byte size with E_IMAGE_CHANGED naming it, on the main thread and in render threads', async () => {
    const changed = await copyImages('v2-changed');
    await flipOneByte(join(changed, VICTIM));
    for (const workers of [0, 2]) {
      const loader = createLoader({ data: changed, labels, epoch: 0, batchSize: 8, size: 16, workers });
      const error = await (async () => {
        for await (const _ of loader);
      })().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'E_IMAGE_CHANGED', path: VICTIM, message: expect.stringMatching(/changed after it was labelled.*content hash/) });
    }
  });

  it("skips and counts a changed image under onError: 'skip', replaying every other image", async () => {
    const changed = await copyImages('v2-skip');
    await flipOneByte(join(changed, VICTIM));
    const loader = createLoader({ data: changed, labels, epoch: 0, batchSize: 8, size: 16, workers: 0, onError: 'skip' });
    let crops = 0;
    for await (const batch of loader) crops += batch.size;
    expect(crops).toBe(46);
    expect(loader.stats.skippedImages).toEqual([{ path: VICTIM, reason: expect.stringMatching(/^class-b-green\/img-2\.jpg: the file changed after it was labelled/) }]);
  });

  it('makes verify --data report the changed image by name, where the size-and-path fingerprint still matches', async () => {
    const changed = await copyImages('v2-verify');
    expect((await verifyStore(labels.location, { data: changed })).dataset?.content).toEqual({ checked: 24, changed: [] });
    await flipOneByte(join(changed, VICTIM));
    const report = await verifyStore(labels.location, { data: changed });
    expect(report.dataset?.fingerprintMatches).toBe(true);
    expect(report.dataset?.content).toEqual({ checked: 24, changed: [VICTIM] });
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/1 of 24 images changed.*class-b-green\/img-2\.jpg/);
  });
});

describe('a format 1 store (no content hashes)', () => {
  it('is still read, says once per process that it cannot be content-checked, and reports contentChecked false', async () => {
    const labels = await openLabels(V1_STORE, { allowFormat1: true });
    const warnings: Error[] = [];
    const listen = (warning: Error) => warnings.push(warning);
    process.on('warning', listen);
    try {
      const first = createLoader({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 16, size: 16, workers: 0 });
      expect(await drain({ data: FIXTURE_IMAGES, labels, epoch: 0, batchSize: 16, size: 16, workers: 0 })).toEqual({ crops: 48 });
      createLoader({ data: FIXTURE_IMAGES, labels, epoch: 1, batchSize: 16, size: 16, workers: 0 });
      await new Promise((resolve) => setImmediate(resolve));
      expect(first.stats.contentChecked).toBe(false);
    } finally {
      process.off('warning', listen);
    }
    const notices = warnings.filter((w) => (w as { code?: string }).code === 'FKD_FORMAT_1');
    expect(notices.length).toBe(1);
    expect(notices.every((w) => /format 1 label store: it has no content hashes/.test(w.message))).toBe(true);
    expect((await verifyStore(V1_STORE, { data: FIXTURE_IMAGES, allowFormat1: true })).dataset?.content).toBeNull();
  });

  it('still catches an image replaced by one of other dimensions at the same byte size, by its stored size', async () => {
    const changed = await copyImages('v1-larger');
    await replaceWithLargerSameSize(join(changed, VICTIM));
    const labels = await openLabels(V1_STORE, { allowFormat1: true });
    const result = await drain({ data: changed, labels, epoch: 0, batchSize: 16, size: 16, workers: 0 });
    expect(result.code).toBe('E_IMAGE_CHANGED');
    const threaded = await rejectionCode(async () => {
      for await (const _ of createLoader({ data: changed, labels, epoch: 0, batchSize: 16, size: 16, workers: 1 }));
    });
    expect(threaded).toBe('E_IMAGE_CHANGED');
  });
});
