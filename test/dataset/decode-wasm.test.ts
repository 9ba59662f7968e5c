import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeForRender, decodeImage, DEFAULT_MAX_PIXELS } from '../../src/dataset/decode.js';
import { decodeJpegWasm, wasmDecoderUnavailable, wasmRefusal } from '../../src/dataset/decode-wasm.js';
import { toRgb } from '../../src/dataset/image.js';
import { readJpegHeader } from '../../src/dataset/jpeg-header.js';
import { isFkdError } from '../../src/errors.js';
import * as images from '../helpers/images.js';

const fixtures = new URL('../../fixtures/', import.meta.url).pathname;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fkd-decode-wasm-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A photo-like 500×375 picture (waves, edges, grain), raw RGB. */
function photo(width = 500, height = 375): { data: Buffer; info: { width: number; height: number; channels: 3 } } {
  const data = Buffer.alloc(width * height * 3);
  let seed = 7;
  for (let i = 0; i < width * height; i++) {
    const x = i % width;
    const y = Math.floor(i / width);
    seed = (seed * 1103515245 + 12345) >>> 0;
    for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.max(0, Math.min(255, 120 + 80 * Math.sin(x / (9 + c)) * Math.cos(y / (13 - c)) + ((x + 2 * y) % 89 < 3 ? 50 : 0) + ((seed >> (8 * c)) & 31) - 16));
  }
  return { data, info: { width, height, channels: 3 } };
}

/** Every encoding the in-thread decoder takes, as sharp (MozJPEG), Pillow and cjpeg (fixtures/jpeg/: 4:2:2, restart markers, SOF1) write them. */
async function acceptedJpegs(): Promise<[string, Buffer][]> {
  const { data, info } = photo();
  const raw = () => sharp(data, { raw: info });
  const cases: [string, Buffer][] = [
    ['4:2:0 baseline', await raw().jpeg({ quality: 90 }).toBuffer()],
    ['4:2:0 progressive', await raw().jpeg({ quality: 80, progressive: true }).toBuffer()],
    ['4:4:4', await raw().jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer()],
    ['4:4:4 progressive', await raw().jpeg({ quality: 70, chromaSubsampling: '4:4:4', progressive: true }).toBuffer()],
    ['greyscale', await raw().greyscale().jpeg({ quality: 85 }).toBuffer()],
    ['odd sides 333×217', await raw().resize(333, 217).jpeg({ quality: 75 }).toBuffer()],
    ['one pixel', await raw().resize(1, 1).jpeg().toBuffer()],
    ['EXIF orientation 1', await raw().jpeg().withExif({ IFD0: { Orientation: '1', Copyright: 'fkd' } }).toBuffer()],
    ['quality 100', await raw().jpeg({ quality: 100 }).toBuffer()],
  ];
  for (const name of await readdir(join(fixtures, 'jpeg'))) if (!name.startsWith('refused-')) cases.push([`libjpeg-turbo ${name}`, await readFile(join(fixtures, 'jpeg', name))]);
  for (const name of await readdir(join(fixtures, 'images', 'class-a-red'))) cases.push([`fixture ${name}`, await readFile(join(fixtures, 'images', 'class-a-red', name))]);
  return cases;
}

describe('the in-thread JPEG decoder', () => {
  it('loads here (so the tests below exercise it rather than sharp)', async () => {
    const bytes = await sharp(photo().data, { raw: photo().info }).jpeg().toBuffer();
    expect(await decodeJpegWasm(bytes)).toMatchObject({ layout: 'rgbx', width: 500, height: 375 });
    expect(wasmDecoderUnavailable()).toBeUndefined();
  });

  it("gives sharp's exact pixels for every encoding it accepts", async () => {
    for (const [name, bytes] of await acceptedJpegs()) {
      const header = readJpegHeader(bytes);
      expect(header && wasmRefusal(header, DEFAULT_MAX_PIXELS), name).toBeUndefined();
      const fast = await decodeForRender(bytes, name);
      expect(fast.layout, `${name} was decoded in-thread`).toBe('rgbx');
      const reference = await decodeImage(bytes, name);
      const rgb = toRgb(fast);
      expect([rgb.width, rgb.height], name).toEqual([reference.width, reference.height]);
      expect(Buffer.compare(Buffer.from(rgb.data), Buffer.from(reference.data)), `${name}: pixels differ from sharp's`).toBe(0);
    }
  });

  it('leaves to sharp what libvips treats differently, or it was not built for: EXIF rotation, CMYK, ICC profiles, arithmetic coding, 4:4:0, PNG', async () => {
    const { data, info } = photo(64, 48);
    const refused: [string, Buffer, RegExp][] = [
      ['rotated', await readFile(await images.writeExifRotatedJpeg(dir)), /EXIF orientation 6/],
      ['cmyk', await readFile(await images.writeCmykJpeg(dir)), /4 components|ICC profile, MPF or Adobe/],
      ['icc', await sharp(data, { raw: info }).jpeg().withIccProfile('p3').toBuffer(), /ICC profile/],
      ['arithmetic', await readFile(join(fixtures, 'jpeg', 'refused-arithmetic.jpg')), /frame type 0xc9/],
      ['4:4:0', await readFile(join(fixtures, 'jpeg', 'refused-440.jpg')), /sampling 1x2,1x1,1x1/],
    ];
    for (const [name, bytes, reason] of refused) {
      expect(wasmRefusal(readJpegHeader(bytes)!, DEFAULT_MAX_PIXELS), name).toMatch(reason);
      const image = await decodeForRender(bytes, name);
      expect(image.layout, name).toBeUndefined();
      expect(Buffer.compare(Buffer.from(image.data), Buffer.from((await decodeImage(bytes, name)).data)), name).toBe(0);
    }
    // The rotated JPEG is decoded upright, as sharp does.
    const rotated = await decodeForRender(refused[0]![1], 'rotated');
    expect([rotated.width, rotated.height]).toEqual([40, 60]);
    const png = await readFile(await images.writeAlphaPng(dir));
    expect(readJpegHeader(png)).toBeUndefined();
    expect((await decodeForRender(png, 'alpha.png')).layout).toBeUndefined();
  });

  it('refuses images over its own pixel cap and over the caller’s', () => {
    const header = { frame: 0xc0, precision: 8, width: 5000, height: 4000, components: [{ id: 1, h: 1, v: 1 }], orientation: undefined, colourSegments: 0, unreadableExif: 0 };
    expect(wasmRefusal(header, DEFAULT_MAX_PIXELS)).toMatch(/too many pixels/);
    expect(wasmRefusal({ ...header, width: 100, height: 100 }, 9_999)).toMatch(/too many pixels/);
    expect(wasmRefusal({ ...header, width: 100, height: 100, precision: 12 }, DEFAULT_MAX_PIXELS)).toMatch(/12-bit/);
    expect(wasmRefusal({ ...header, width: 100, height: 100, frame: 0xc9 }, DEFAULT_MAX_PIXELS)).toMatch(/frame type 0xc9/);
    const sampling = [{ id: 1, h: 1, v: 2 }, { id: 2, h: 1, v: 1 }, { id: 3, h: 1, v: 1 }];
    expect(wasmRefusal({ ...header, width: 100, height: 100, components: sampling }, DEFAULT_MAX_PIXELS)).toMatch(/sampling 1x2,1x1,1x1/);
  });

  it("hands truncated and corrupt files to sharp, so sharp's rules for bad input stay the only rules", async () => {
    const truncated = await readFile(await images.writeTruncatedJpeg(dir));
    expect(readJpegHeader(truncated)).toBeDefined();
    // The decoder warns (premature end), so it gives nothing and sharp refuses the file.
    expect(await decodeJpegWasm(truncated)).toBeUndefined();
    await expect(decodeForRender(truncated, 'cut.jpg')).rejects.toSatisfy((error: unknown) => isFkdError(error, 'E_BAD_IMAGE') && /^cut\.jpg: truncated/.test((error as Error).message));
    // Garbage in the entropy-coded data: libjpeg warns and recovers; the image is sharp's, whatever sharp makes of it.
    const good = await sharp(photo().data, { raw: photo().info }).jpeg().toBuffer();
    const corrupt = Buffer.concat([good.subarray(0, 2000), Buffer.alloc(3000, 7), good.subarray(5000)]);
    expect(await decodeJpegWasm(corrupt)).toBeUndefined();
    const viaSharp = await decodeImage(corrupt, 'corrupt.jpg');
    expect(Buffer.compare(Buffer.from((await decodeForRender(corrupt, 'corrupt.jpg')).data), Buffer.from(viaSharp.data))).toBe(0);
    // A fatal decoder error (not a JPEG past its signature) ends the Emscripten program; the next decode still works.
    const broken = Buffer.concat([good.subarray(0, 2), Buffer.from([0xff, 0xc0, 0, 4, 9, 9])]);
    expect(await decodeJpegWasm(broken)).toBeUndefined();
    expect(await decodeJpegWasm(good)).toMatchObject({ width: 500, height: 375 });
  });
  it('gives sharp\'s outcome on damaged files: the same error code, or an image of the same size (a fuzz of 600 mutations and cuts)', async () => {
    const { data, info } = photo(61, 47);
    const bases = [await sharp(data, { raw: info }).jpeg({ quality: 80 }).toBuffer(), await sharp(data, { raw: info }).jpeg({ quality: 80, progressive: true }).toBuffer()];
    let seed = 11;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const outcome = async (decode: () => Promise<{ width: number; height: number }>) => {
      try {
        const image = await decode();
        return `${image.width}x${image.height}`;
      } catch (error) {
        expect(isFkdError(error), String(error)).toBe(true);
        return (error as { code: string }).code;
      }
    };
    let inThread = 0;
    for (let trial = 0; trial < 600; trial++) {
      const bytes = Buffer.from(bases[trial % 2]!);
      for (let m = 0, count = 1 + next(3); m < count; m++) {
        const at = next(bytes.length);
        bytes[at] = [next(256), bytes[at]! ^ (1 << next(8)), 0xff][next(3)]!;
      }
      const input = next(10) === 0 ? bytes.subarray(0, next(bytes.length)) : bytes;
      const header = readJpegHeader(input); // never throws, whatever the bytes
      if (header && wasmRefusal(header, DEFAULT_MAX_PIXELS) === undefined && (await decodeJpegWasm(input))) inThread++;
      expect(await outcome(() => decodeForRender(input, 'fuzz.jpg')), `trial ${trial}`).toBe(await outcome(() => decodeImage(input, 'fuzz.jpg')));
    }
    expect(inThread).toBeGreaterThan(100); // the in-thread path really was exercised
  });
});
