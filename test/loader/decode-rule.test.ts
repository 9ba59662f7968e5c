import { cpSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { renderNormalized } from '../../src/crop/render.js';
import { decodeForRender, decodeImage } from '../../src/dataset/decode.js';
import { label } from '../../src/generate/label.js';
import { createLoader } from '../../src/loader/loader.js';
import { openLabels, type LabelSet } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX } from '../helpers/cli.js';

// libvips decodes JPEGs with MozJPEG's SIMD code, the in-thread decoder with its C code. They
// agree on every JPEG an encoder writes, and can disagree on a damaged one whose dequantised
// coefficients leave 16 bits. A store records which rule its labeler decoded with
// (sampler.decoder), and the loader replays by that rule, so such a file is still replayed
// pixel for pixel.

/** A progressive JPEG whose luma quantisation table was damaged after encoding (one entry set to 255). */
async function damagedJpeg(): Promise<Buffer> {
  const width = 61;
  const height = 47;
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + (i >> 5) * 11) & 255;
  const jpeg = await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 80, progressive: true }).toBuffer();
  // Bytes 7.. are the first DQT's 64 entries, in zigzag order; byte 19 is entry 12.
  expect([jpeg[2], jpeg[3]]).toEqual([0xff, 0xdb]);
  jpeg[19] = 255;
  return jpeg;
}

const V1_STORE = fileURLToPath(new URL('../fixtures/v1-store', import.meta.url));
let work: string;
let data: string;
let labels: LabelSet;
let damaged: Buffer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-decode-rule-'));
  data = join(work, 'data');
  cpSync(FIXTURE_IMAGES, data, { recursive: true });
  damaged = await damagedJpeg();
  writeFileSync(join(data, 'class-a-red', 'img-0.jpg'), damaged);
  const store = join(work, 'labels');
  await label({ data, teacher: FIXTURE_ONNX, out: store, epochs: 1, crops: 2, topK: 2, threads: 1 });
  labels = await openLabels(store);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the JPEG decoding rule of a store', () => {
  it('is a JPEG on which libvips and the in-thread decoder disagree (the case the rule exists for)', async () => {
    const viaRule = await decodeForRender(damaged, 'damaged.jpg');
    const viaSharp = await decodeImage(damaged, 'damaged.jpg');
    expect(viaRule.layout).toBe('rgbx');
    let differing = 0;
    for (let p = 0; p < viaSharp.width * viaSharp.height; p++) for (let c = 0; c < 3; c++) if (viaRule.data[4 * p + c] !== viaSharp.data[3 * p + c]) differing++;
    expect(differing).toBeGreaterThan(0);
  });

  it('is written by the label pass, and the loader replays the damaged file by it, pixel for pixel, on render threads or not', async () => {
    expect(labels.manifest.sampler.decoder).toBe('fkd-jpeg-1');
    const rule = await decodeForRender(damaged, 'damaged.jpg');
    const sharpImage = await decodeImage(damaged, 'damaged.jpg');
    const norm = { mean: labels.manifest.teacher.mean, std: labels.manifest.teacher.std };
    for (const workers of [2, 0]) {
      let seen = 0;
      const loader = createLoader({ data, labels, epoch: 0, batchSize: 4, size: 32, layout: 'nchw', workers, shuffle: false });
      for await (const batch of loader) {
        for (let i = 0; i < batch.size; i++) {
          const meta = batch.meta[i]!;
          if (meta.path !== 'class-a-red/img-0.jpg') continue;
          seen++;
          const expected = new Float32Array(3 * 32 * 32);
          renderNormalized(rule, meta.box, 32, labels.manifest.sampler.interpolation, expected, 0, 'nchw', norm);
          const wrong = new Float32Array(3 * 32 * 32);
          renderNormalized(sharpImage, meta.box, 32, labels.manifest.sampler.interpolation, wrong, 0, 'nchw', norm);
          const got = batch.images.subarray(i * expected.length, (i + 1) * expected.length);
          expect(Array.from(got), `workers ${workers}`).toEqual(Array.from(expected));
          expect(Array.from(wrong)).not.toEqual(Array.from(expected));
        }
      }
      expect(seen, `workers ${workers}`).toBe(2);
      if (workers > 0) expect(loader.stats.inThreadDecodes).toBe(loader.stats.decodes);
    }
  });

  it('is applied by verify, whose teacher re-run agrees with every stored label', async () => {
    const report = await verifyStore(labels.location, { data, teacher: FIXTURE_ONNX, sample: 48 });
    expect(report.ok, JSON.stringify(report.problems)).toBe(true);
  });

  it('is absent from stores written before it, which the loader decodes with libvips throughout', async () => {
    const old = await openLabels(V1_STORE, { allowFormat1: true });
    expect(old.manifest.sampler.decoder).toBeUndefined();
    const loader = createLoader({ data: FIXTURE_IMAGES, labels: old, epoch: 0, batchSize: 8, size: 16, workers: 2 });
    for await (const _ of loader);
    expect(loader.stats.decodes).toBeGreaterThan(0);
    expect(loader.stats.inThreadDecodes).toBe(0);
  });
});
