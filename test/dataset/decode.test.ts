import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/dataset/decode.js';
import { isFkdError, type FkdErrorCode } from '../../src/errors.js';
import * as images from '../helpers/images.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fkd-decode-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectFailure(path: string, code: FkdErrorCode, fragment: RegExp): Promise<void> {
  try {
    await decodeImage(path, `case/${basename(path)}`);
    expect.unreachable(`${path} should not decode`);
  } catch (error) {
    expect(isFkdError(error, code), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/^case\//);
    expect((error as Error).message).toMatch(fragment);
  }
}

describe('image decoding rules', () => {
  it('converts CMYK JPEGs to 3-channel sRGB', async () => {
    const image = await decodeImage(await images.writeCmykJpeg(dir));
    expect(image.data.length).toBe(image.width * image.height * 3);
  });

  it('expands greyscale to three equal channels', async () => {
    const image = await decodeImage(await images.writeGreyJpeg(dir));
    expect(image.data.length).toBe(image.width * image.height * 3);
    for (let i = 0; i < image.data.length; i += 3) {
      expect(image.data[i]).toBe(image.data[i + 1]);
      expect(image.data[i]).toBe(image.data[i + 2]);
    }
  });

  it('drops alpha without compositing', async () => {
    const image = await decodeImage(await images.writeAlphaPng(dir));
    expect(image.data.length).toBe(image.width * image.height * 3);
  });

  it('reduces 16-bit samples to 8 bits', async () => {
    const image = await decodeImage(await images.writeRgb16Png(dir));
    expect(image.data).toBeInstanceOf(Uint8Array);
    expect(image.data.length).toBe(image.width * image.height * 3);
    expect(Math.max(...image.data.subarray(0, 300))).toBeGreaterThan(16);
  });

  it('applies EXIF orientation, so boxes refer to the image as displayed', async () => {
    const image = await decodeImage(await images.writeExifRotatedJpeg(dir));
    // Stored 60×40 with red left / blue right; orientation 6 shows it 40×60, red on top.
    expect([image.width, image.height]).toEqual([40, 60]);
    const top = image.data.subarray(0, 3);
    const bottom = image.data.subarray(image.data.length - 3);
    expect(top[0]!).toBeGreaterThan(150);
    expect(top[2]!).toBeLessThan(100);
    expect(bottom[2]!).toBeGreaterThan(150);
    expect(bottom[0]!).toBeLessThan(100);
  });

  it('decodes a PNG with a .jpg name by its content', async () => {
    const image = await decodeImage(await images.writePngNamedJpeg(dir));
    expect(image.width).toBeGreaterThan(0);
  });

  it('rejects truncated JPEGs, naming the file', async () => {
    await expectFailure(await images.writeTruncatedJpeg(dir), 'E_BAD_IMAGE', /truncated|premature|cannot decode/i);
  });

  it('rejects zero-byte files', async () => {
    await expectFailure(await images.writeZeroByte(dir), 'E_BAD_IMAGE', /not a readable image|cannot decode/);
  });

  it('rejects files that are not images', async () => {
    await expectFailure(await images.writeNotAnImage(dir), 'E_BAD_IMAGE', /not a readable image/);
  });

  it('refuses decompression bombs over the pixel limit', async () => {
    await expectFailure(await images.writeBombPng(dir), 'E_IMAGE_TOO_LARGE', /decompression bomb/);
  });

  it('reports unreadable paths as I/O errors', async () => {
    await expectFailure(join(dir, 'missing.jpg'), 'E_IO', /cannot read/);
  });
});

describe('decoding bytes without reading the header first', () => {
  // JPEG and PNG bytes skip the separate header read unless `admit` asks for the pixel count;
  // the pixels must be exactly those of the path that reads it.
  const withHeader = (bytes: Uint8Array) => decodeImage(bytes, 'case', { admit: async () => {} });
  it('gives the same pixels as the header path for every kind of JPEG and PNG', async () => {
    const writers = [images.writeCmykJpeg, images.writeGreyJpeg, images.writeAlphaPng, images.writeRgb16Png, images.writeExifRotatedJpeg, images.writePngNamedJpeg];
    for (const write of writers) {
      const bytes = new Uint8Array(await readFile(await write(dir)));
      const direct = await decodeImage(bytes, 'case');
      const checked = await withHeader(bytes);
      expect([direct.width, direct.height], write.name).toEqual([checked.width, checked.height]);
      expect(Buffer.compare(Buffer.from(direct.data), Buffer.from(checked.data)), write.name).toBe(0);
    }
  });
  it('still refuses SVG bytes and truncated JPEG bytes', async () => {
    for (const [file, pattern] of [[await images.writeSvgNamedJpeg(dir), /SVG/], [await images.writeTruncatedJpeg(dir), /truncated|premature|cannot decode/i]] as const) {
      try {
        await decodeImage(new Uint8Array(await readFile(file)), 'case/x.jpg');
        expect.unreachable(`${file} should not decode`);
      } catch (error) {
        expect(isFkdError(error, 'E_BAD_IMAGE'), String(error)).toBe(true);
        expect((error as Error).message).toMatch(pattern);
      }
    }
  });
});
