import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readJpegHeader } from '../../src/dataset/jpeg-header.js';

const pixels = (width: number, height: number) => sharp(Buffer.alloc(width * height * 3, 120), { raw: { width, height, channels: 3 } });

describe('the JPEG header reader', () => {
  it('reads the frame: type, size, precision and sampling factors', async () => {
    const baseline = readJpegHeader(await pixels(33, 21).jpeg().toBuffer());
    expect(baseline).toMatchObject({ frame: 0xc0, precision: 8, width: 33, height: 21, orientation: undefined, colourSegments: 0, unreadableExif: 0 });
    expect(baseline!.components.map((c) => [c.h, c.v])).toEqual([[2, 2], [1, 1], [1, 1]]);
    const progressive = readJpegHeader(await pixels(8, 8).jpeg({ progressive: true, chromaSubsampling: '4:4:4' }).toBuffer());
    expect(progressive).toMatchObject({ frame: 0xc2 });
    expect(progressive!.components.map((c) => [c.h, c.v])).toEqual([[1, 1], [1, 1], [1, 1]]);
    const pillow = readJpegHeader(await readFile(new URL('../../fixtures/jpeg/422.jpg', import.meta.url)));
    expect(pillow!.components.map((c) => [c.h, c.v])).toEqual([[2, 1], [1, 1], [1, 1]]);
    // A DRI segment (restart markers) is passed over; SOF1 and SOF9 are told apart.
    const fixture = async (name: string) => readJpegHeader(await readFile(new URL(`../../fixtures/jpeg/${name}`, import.meta.url)));
    expect(await fixture('restart-every-row.jpg')).toMatchObject({ frame: 0xc0, width: 97, height: 61 });
    expect(await fixture('sof1-16bit-tables.jpg')).toMatchObject({ frame: 0xc1, precision: 8 });
    expect(await fixture('refused-arithmetic.jpg')).toMatchObject({ frame: 0xc9 });
  });

  it('finds the EXIF orientation and the segments libvips acts on (ICC)', async () => {
    expect(readJpegHeader(await pixels(8, 8).jpeg().withMetadata({ orientation: 6 }).toBuffer())!.orientation).toBe(6);
    expect(readJpegHeader(await pixels(8, 8).jpeg().withIccProfile('p3').toBuffer())!.colourSegments).toBeGreaterThan(0);
  });

  it('reads a big-endian EXIF block, and counts a malformed one as unreadable', () => {
    const exif = (tiff: number[]) => [0xff, 0xe1, 0, 2 + 6 + tiff.length, 0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
    const frame = [0xff, 0xc0, 0, 11, 8, 0, 4, 0, 4, 1, 1, 0x11, 0];
    const scan = [0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0];
    const jpeg = (...segments: number[][]) => new Uint8Array([0xff, 0xd8, ...segments.flat()]);
    // MM, 42, IFD at 8: one entry, tag 0x0112 SHORT × 1 = 3.
    const bigEndian = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0];
    expect(readJpegHeader(jpeg(exif(bigEndian), frame, scan))).toMatchObject({ orientation: 3, unreadableExif: 0, width: 4, height: 4 });
    expect(readJpegHeader(jpeg(exif([0x4d, 0x4d, 0, 41, 0, 0, 0, 8]), frame, scan))).toMatchObject({ orientation: undefined, unreadableExif: 1 });
    // Two EXIF segments: which one libvips reads is not ours to guess.
    expect(readJpegHeader(jpeg(exif(bigEndian), exif(bigEndian), frame, scan))!.unreadableExif).toBe(1);
  });

  it('reads hostile or cut bytes as undefined instead of reading past them', async () => {
    const whole = await pixels(16, 16).jpeg().toBuffer();
    const scanAt = whole.indexOf(Buffer.from([0xff, 0xda]));
    for (let cut = 0; cut < scanAt + 4; cut++) expect(readJpegHeader(whole.subarray(0, cut)), `cut at ${cut}`).toBeUndefined();
    expect(readJpegHeader(whole.subarray(0, scanAt + 14))).toBeDefined();
    // A segment length running past the end, a frame with a wrong component count, two frames, no frame.
    expect(readJpegHeader(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff, 0]))).toBeUndefined();
    expect(readJpegHeader(new Uint8Array([0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0, 4, 0, 4, 2, 1, 0x11, 0, 0xff, 0xda, 0, 2]))).toBeUndefined();
    const frame = [0xff, 0xc0, 0, 11, 8, 0, 4, 0, 4, 1, 1, 0x11, 0];
    expect(readJpegHeader(new Uint8Array([0xff, 0xd8, ...frame, ...frame, 0xff, 0xda, 0, 2]))).toBeUndefined();
    expect(readJpegHeader(new Uint8Array([0xff, 0xd8, 0xff, 0xda, 0, 2]))).toBeUndefined();
    expect(readJpegHeader(new Uint8Array([0x89, 0x50, 0x4e, 0x47]))).toBeUndefined();
  });
});
