// Edge-case image files, written at test time into a directory the test owns.
//
// Why generate instead of commit: each case is a few lines of sharp, the bytes stay out of
// the repository, and the bomb (30000×30000 pixels) must never be a file anyone opens by
// accident. Every helper returns the path it wrote.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { seededRandom } from './random.js';


/** Raw RGB pixels: a colour field with grain, so JPEG encoding has something real to do. */
function noisyRgb(width: number, height: number, rgb: readonly [number, number, number], random: () => number): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) {
      data[i * 3 + c] = Math.max(0, Math.min(255, Math.round(rgb[c]! + (random() - 0.5) * 60)));
    }
  }
  return data;
}

function rgbImage(width: number, height: number, rgb: readonly [number, number, number], seed = 7): Sharp {
  return sharp(noisyRgb(width, height, rgb, seededRandom(seed)), { raw: { width, height, channels: 3 } });
}

/**
 * A 4-channel CMYK JPEG (ImageNet has 22 of these). Decoders must convert it to sRGB.
 *
 * @example
 * const path = await writeCmykJpeg(dir); // 64×48, metadata.space === 'cmyk'
 */
export async function writeCmykJpeg(dir: string, name = 'cmyk.jpg'): Promise<string> {
  const path = join(dir, name);
  await rgbImage(64, 48, [180, 60, 40]).toColourspace('cmyk').jpeg().toFile(path);
  return path;
}

/**
 * A single-channel greyscale JPEG; decoders must expand it to 3 channels.
 *
 * @example
 * const path = await writeGreyJpeg(dir); // 64×48, metadata.channels === 1
 */
export async function writeGreyJpeg(dir: string, name = 'grey.jpg'): Promise<string> {
  const path = join(dir, name);
  await rgbImage(64, 48, [120, 120, 120]).toColourspace('b-w').jpeg().toFile(path);
  return path;
}

/**
 * An RGBA PNG whose left half is fully transparent; decoders must drop the 4th channel.
 *
 * @example
 * const path = await writeAlphaPng(dir); // 64×48, metadata.hasAlpha === true
 */
export async function writeAlphaPng(dir: string, name = 'alpha.png'): Promise<string> {
  const path = join(dir, name);
  const width = 64;
  const height = 48;
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set([40, 160, 60, x < width / 2 ? 0 : 255], (y * width + x) * 4);
    }
  }
  await sharp(data, { raw: { width, height, channels: 4 } }).png().toFile(path);
  return path;
}

/**
 * A 16-bit-per-channel RGB PNG (a horizontal gradient); decoders must reduce it to 8 bits.
 *
 * @example
 * const path = await writeRgb16Png(dir); // 64×48, metadata.depth === 'ushort'
 */
export async function writeRgb16Png(dir: string, name = 'rgb16.png'): Promise<string> {
  const path = join(dir, name);
  const width = 64;
  const height = 48;
  const data = new Uint16Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const level = Math.round(((i % width) / (width - 1)) * 65535);
    data.set([level, 65535 - level, 30000], i * 3);
  }
  await sharp(data, { raw: { width, height, channels: 3 } }).toColourspace('rgb16').png().toFile(path);
  return path;
}

/**
 * A JPEG stored 60×40 (left half red, right half blue) with EXIF Orientation 6. Auto-orient
 * turns it 90° clockwise, to 40×60 with red on top and blue below, so a test can tell
 * whether the box refers to the stored or the oriented image.
 *
 * @example
 * const path = await writeExifRotatedJpeg(dir);
 * (await sharp(path).metadata()).orientation; // 6
 */
export async function writeExifRotatedJpeg(dir: string, name = 'exif-rotated.jpg'): Promise<string> {
  const path = join(dir, name);
  const width = 60;
  const height = 40;
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data.set(i % width < width / 2 ? [220, 30, 30] : [30, 30, 220], i * 3);
  }
  await sharp(data, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toFile(path);
  return path;
}

/**
 * The first half of a valid 96×72 JPEG. sharp rejects it with the default `failOn:
 * 'warning'`, and decodes it with grey lower rows under `failOn: 'none'`.
 *
 * @example
 * const path = await writeTruncatedJpeg(dir);
 */
export async function writeTruncatedJpeg(dir: string, name = 'truncated.jpg'): Promise<string> {
  const path = join(dir, name);
  const whole = await rgbImage(96, 72, [90, 140, 200]).jpeg({ quality: 90 }).toBuffer();
  await writeFile(path, whole.subarray(0, Math.floor(whole.length / 2)));
  return path;
}

/**
 * An empty file with an image extension.
 *
 * @example
 * const path = await writeZeroByte(dir); // size 0
 */
export async function writeZeroByte(dir: string, name = 'empty.jpg'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, new Uint8Array(0));
  return path;
}

/**
 * Plain text behind a `.jpg` name: no decoder should accept it.
 *
 * @example
 * const path = await writeNotAnImage(dir);
 */
export async function writeNotAnImage(dir: string, name = 'not-an-image.jpg'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, 'This is not an image, whatever its extension says.\n');
  return path;
}

/**
 * A real PNG named `.jpg` (ImageNet has one, named `.JPEG`). Decoders that sniff content
 * read it; those that trust the extension fail.
 *
 * @example
 * const path = await writePngNamedJpeg(dir); // 64×48, metadata.format === 'png'
 */
export async function writePngNamedJpeg(dir: string, name = 'png-named.jpg'): Promise<string> {
  const path = join(dir, name);
  await rgbImage(64, 48, [200, 180, 40]).png().toFile(path);
  return path;
}

/**
 * An SVG behind a `.jpg` name that pulls in a sibling file of the dataset: librsvg would
 * render it, and with it bytes the tree never meant to be an image.
 *
 * @example
 * const path = await writeSvgNamedJpeg(dir); // (await sharp(path).metadata()).format === 'svg'
 */
export async function writeSvgNamedJpeg(dir: string, name = 'svg-named.jpg', sibling = 'img-0.jpg'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="48"><image xlink:href="${sibling}" width="64" height="48"/></svg>\n`);
  return path;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

// zlib.crc32 only exists from Node 20.15; the package supports 20.9.
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, body: Uint8Array): Buffer {
  const typeAndBody = Buffer.concat([Buffer.from(type, 'latin1'), body]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndBody));
  return Buffer.concat([length, typeAndBody, crc]);
}

/**
 * A decompression bomb: a 30000×30000 single-colour PNG of about 110 KB on disk, far over
 * sharp's default `limitInputPixels` (0x3FFF²). Loaders must refuse it before allocating
 * 2.7 GB of pixels. `side` may be lowered (a multiple of 100) to get a decodable copy.
 *
 * Written by hand rather than by sharp, which would have to push 900 million pixels
 * through zlib. Every scanline of a 1-bit palette image of colour 0 is zero bytes, so the
 * compressed stream is one deflate block for 100 zero rows, repeated 300 times.
 *
 * @example
 * const path = await writeBombPng(dir);
 * await sharp(path).metadata(); // rejects: "Input image exceeds pixel limit" (sharp 0.35)
 * (await sharp(path, { limitInputPixels: false }).metadata()).width; // 30000
 */
export async function writeBombPng(dir: string, name = 'bomb.png', side = 30000): Promise<string> {
  const path = join(dir, name);
  const rowBytes = 1 + Math.ceil(side / 8); // filter byte + 1 bit per pixel
  const rowsPerBlock = 100;
  if (side % rowsPerBlock !== 0) {
    throw new RangeError(`Expected a side divisible by ${rowsPerBlock} but received ${side}`);
  }
  // A sync flush ends the block on a byte boundary without marking it final, so copies of
  // it can be concatenated; back-references never leave the block they were made in.
  const block = deflateRawSync(Buffer.alloc(rowBytes * rowsPerBlock), {
    level: 9,
    finishFlush: zlibConstants.Z_SYNC_FLUSH,
  });
  const finalEmptyBlock = Buffer.from([0x03, 0x00]);
  // Adler-32 of n zero bytes: a stays 1, b = n mod 65521.
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((rowBytes * side) % 65521) * 65536 + 1) >>> 0);
  const zlibStream = Buffer.concat([
    Buffer.from([0x78, 0xda]),
    ...Array.from({ length: side / rowsPerBlock }, () => block),
    finalEmptyBlock,
    adler,
  ]);

  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header.set([1, 3, 0, 0, 0], 8); // bit depth 1, palette colour, deflate, no filter, no interlace
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('PLTE', Buffer.from([200, 40, 40])),
    pngChunk('IDAT', zlibStream),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
  await writeFile(path, png);
  return path;
}

export interface ImageFolderOptions {
  /** A class count (folders `class-00`, `class-01`, ...) or explicit folder names. */
  classes: number | readonly string[];
  perClass: number;
  seed?: number;
}

/**
 * A small ImageFolder tree of JPEGs: `<dir>/<class>/img-<i>.jpg`, each class with its own
 * colour, sizes 40-100 px per side and non-square. Same seed, same bytes.
 *
 * @example
 * const root = await makeImageFolder(join(tmp, 'data'), { classes: 3, perClass: 4, seed: 1 });
 */
export async function makeImageFolder(dir: string, { classes, perClass, seed = 1 }: ImageFolderOptions): Promise<string> {
  // Zero-padded names so that sorted order is numeric order, as an ImageFolder scan sorts.
  const names = typeof classes === 'number' ? Array.from({ length: classes }, (_, i) => `class-${String(i).padStart(2, '0')}`) : classes;
  const random = seededRandom(seed);
  const writes: Promise<unknown>[] = [];
  for (const [index, className] of names.entries()) {
    const classDir = join(dir, className);
    await mkdir(classDir, { recursive: true });
    // Hues spread around the colour wheel, so classes stay distinguishable by colour.
    const hue = (index / names.length) * 2 * Math.PI;
    const rgb = [0, 2, 4].map((shift) => Math.round(128 + 100 * Math.cos(hue - (shift * Math.PI) / 3))) as [number, number, number];
    for (let i = 0; i < perClass; i++) {
      const width = 40 + Math.floor(random() * 61);
      let height = 40 + Math.floor(random() * 61);
      if (height === width) height += 7;
      const pixels = noisyRgb(width, height, rgb, random);
      writes.push(sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toFile(join(classDir, `img-${i}.jpg`)));
    }
  }
  await Promise.all(writes);
  return dir;
}
