import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import { Packr, unpackMultiple } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { FkdError } from '../../src/errors.js';
import { PROBABILITY_STEP_LN, encodeProbability } from '../../src/labels/codec.js';
import { MAX_EPOCH_RAW_BYTES, MAX_PATHS_RAW_BYTES, SHARD_MAGIC, presentImages, type EpochRecords, type ImageBlock } from '../../src/store/format/columns.js';
import { decodeEpochBlock, decodeImageBlock, decodeShard } from '../../src/store/format/decode.js';
import { encodeShard } from '../../src/store/format/encode.js';
import { checkRecordValues } from '../../src/store/format/validate.js';
import { sha256Hex } from '../../src/io/hash.js';
import { seededRandom as random } from '../helpers/random.js';

// ---------------------------------------------------------------------------------------
// Data


function gaussian(next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** torchvision RandomResizedCrop(scale 0.08..1, ratio 3/4..4/3) box. */
function randomBox(next: () => number, width: number, height: number): [number, number, number, number] {
  const area = width * height;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (0.08 + next() * 0.92);
    const ratio = Math.exp(Math.log(3 / 4) + next() * Math.log(16 / 9));
    const w = Math.round(Math.sqrt(target * ratio));
    const h = Math.round(Math.sqrt(target / ratio));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return [Math.floor(next() * (height - h + 1)), Math.floor(next() * (width - w + 1)), h, w];
    }
  }
  const side = Math.min(width, height);
  return [(height - side) >> 1, (width - side) >> 1, side, side];
}

interface ShardSpec {
  images: number;
  crops: number;
  epochs: number;
  k: number;
  numClasses: number;
  skipRate?: number;
  imageStart?: number;
  /** Make one image wider than 65535 px so sizes need 4 bytes. */
  huge?: boolean;
}

function emptyEpoch(epoch: number, crops: number, k: number, count: number): EpochRecords {
  return {
    epoch,
    crops,
    topK: k,
    count,
    top: new Uint16Array(count),
    left: new Uint16Array(count),
    height: new Uint16Array(count),
    width: new Uint16Array(count),
    flip: new Uint8Array(count),
    classes: new Uint32Array(count * k),
    codes: new Uint16Array(count * k),
  };
}

/** Random but valid records: distinct classes, codes of a sub-distribution, boxes inside. */
function randomShard(seed: number, spec: ShardSpec): { images: ImageBlock; epochs: EpochRecords[] } {
  const next = random(seed);
  const { images: imageCount, crops, epochs, k, numClasses } = spec;
  const widths = new Uint32Array(imageCount);
  const heights = new Uint32Array(imageCount);
  const skipped: number[] = [];
  for (let i = 0; i < imageCount; i++) {
    if (next() < (spec.skipRate ?? 0)) {
      skipped.push(i);
      continue;
    }
    widths[i] = 1 + Math.floor(next() * 640);
    heights[i] = 1 + Math.floor(next() * 480);
  }
  if (spec.huge && skipped[0] !== 0) widths[0] = 70_000;
  const paths = Array.from({ length: imageCount }, (_, i) => `c0/img-${i}.jpg`);
  const images: ImageBlock = { imageStart: spec.imageStart ?? 0, imageCount, widths, heights, skipped, paths };
  const present = presentImages(images);
  const blocks: EpochRecords[] = [];
  for (let e = 0; e < epochs; e++) {
    const records = emptyEpoch(e, crops, k, present.length * crops);
    for (let r = 0; r < records.count; r++) {
      const image = present[Math.floor(r / crops)] as number;
      const w = Math.min(widths[image] as number, 65535);
      const h = heights[image] as number;
      const [top, left, height, width] = randomBox(next, w, h);
      records.top[r] = top;
      records.left[r] = left;
      records.height[r] = height;
      records.width[r] = width;
      records.flip[r] = next() < 0.5 ? 1 : 0;
      const chosen = new Set<number>();
      while (chosen.size < k) chosen.add(Math.floor(next() * numClasses));
      records.classes.set([...chosen], r * k);
      const weights = Array.from({ length: k }, () => next() ** 3);
      const mass = next() < 0.1 ? 1 : next();
      const total = weights.reduce((a, b) => a + b, 0) || 1;
      const probs = weights.map((weight) => (weight / total) * mass).sort((a, b) => b - a);
      if (next() < 0.05) probs[k - 1] = 0;
      records.codes.set(probs.map(encodeProbability), r * k);
    }
    blocks.push(records);
  }
  return { images, epochs: blocks };
}

/**
 * Teacher-like records (NOTES §5): per image a true class and a few confusable ones, each
 * crop a noisy softmax over 1000 classes, so crops of an image share most top classes.
 */
function realisticShard(seed: number, imageCount: number, crops: number, epochs: number, k: number): { images: ImageBlock; epochs: EpochRecords[] } {
  const numClasses = 1000;
  const next = random(seed);
  const widths = new Uint32Array(imageCount);
  const heights = new Uint32Array(imageCount);
  const affinity: Float64Array[] = [];
  for (let i = 0; i < imageCount; i++) {
    widths[i] = 300 + Math.floor(next() * 200);
    heights[i] = 250 + Math.floor(next() * 200);
    const a = Float64Array.from({ length: numClasses }, () => gaussian(next));
    const truth = Math.floor(next() * numClasses);
    const difficulty = next();
    a[truth] = (a[truth] as number) + 3 + 7 * (1 - difficulty);
    for (let j = 0; j < 6; j++) {
      const near = j < 3 ? Math.min(numClasses - 1, Math.max(0, truth + Math.round(gaussian(next) * 15))) : Math.floor(next() * numClasses);
      a[near] = (a[near] as number) + 1.5 + 5 * next() * difficulty;
    }
    affinity.push(a);
  }
  const images: ImageBlock = { imageStart: 0, imageCount, widths, heights, skipped: [], paths: imageNetPaths(seed, imageCount) };
  const blocks: EpochRecords[] = [];
  const z = new Float64Array(numClasses);
  for (let e = 0; e < epochs; e++) {
    const records = emptyEpoch(e, crops, k, imageCount * crops);
    for (let r = 0; r < records.count; r++) {
      const image = Math.floor(r / crops);
      const [top, left, height, width] = randomBox(next, widths[image] as number, heights[image] as number);
      records.top[r] = top;
      records.left[r] = left;
      records.height[r] = height;
      records.width[r] = width;
      records.flip[r] = next() < 0.5 ? 1 : 0;
      const confidence = 0.6 + (0.6 * height * width) / ((widths[image] as number) * (heights[image] as number));
      let max = -Infinity;
      const a = affinity[image] as Float64Array;
      for (let c = 0; c < numClasses; c++) {
        z[c] = (a[c] as number) * confidence + gaussian(next) * 0.6;
        max = Math.max(max, z[c] as number);
      }
      let sum = 0;
      for (let c = 0; c < numClasses; c++) {
        z[c] = Math.exp((z[c] as number) - max);
        sum += z[c] as number;
      }
      const order = Array.from(z.keys()).sort((x, y) => (z[y] as number) - (z[x] as number) || x - y).slice(0, k);
      order.forEach((cls, j) => {
        records.classes[r * k + j] = cls;
        records.codes[r * k + j] = encodeProbability((z[cls] as number) / sum);
      });
    }
    blocks.push(records);
  }
  return { images, epochs: blocks };
}

/**
 * ImageNet-train-like paths (`n01440764/n01440764_10026.JPEG`) in listing order: ~1300
 * images per class folder, file numbers sparse in 1..50000, sorted as strings.
 */
function imageNetPaths(seed: number, count: number): string[] {
  const next = random(seed ^ 0x5eed);
  const paths: string[] = [];
  for (let wnid = 1440764; paths.length < count; wnid += 1 + Math.floor(next() * 40000)) {
    const numbers = new Set<number>();
    while (numbers.size < 1300) numbers.add(1 + Math.floor(next() * 50000));
    const folder = `n${String(wnid).padStart(8, '0')}`;
    paths.push(...[...numbers].map((number) => `${folder}/${folder}_${number}.JPEG`).sort());
  }
  return paths.slice(0, count);
}

// ---------------------------------------------------------------------------------------
// Helpers

function errorOf(run: () => unknown): FkdError | undefined {
  try {
    run();
  } catch (error) {
    if (!(error instanceof FkdError)) throw error;
    return error;
  }
  return undefined;
}

function expectCorrupt(run: () => unknown, pattern?: RegExp): FkdError {
  const error = errorOf(run);
  expect(error?.code).toBe('E_CORRUPT_SHARD');
  if (pattern) expect(error?.message).toMatch(pattern);
  return error as FkdError;
}

function expectUsage(run: () => unknown, pattern?: RegExp): void {
  const error = errorOf(run);
  expect(error?.code).toBe('E_USAGE');
  if (pattern) expect(error?.message).toMatch(pattern);
}

function plain(records: EpochRecords): Record<string, unknown> {
  return { ...records };
}

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** The `paths` and `pathsBytes` fields of an image block holding these paths. */
function pathFields(paths: string[], text = paths.join('\0')): { pathsBytes: number; paths: Uint8Array } {
  const raw = new TextEncoder().encode(text);
  return { pathsBytes: raw.length, paths: brotliCompressSync(raw) };
}

/** A shard file holding only an image block of two 10×10 images, with `fields` replaced (undefined: removed). */
function craftImageShard(fields: Record<string, unknown>): Uint8Array {
  const map: Record<string, unknown> = {
    kind: 'images',
    imageStart: 0,
    imageCount: 2,
    sizeBytes: 2,
    widths: Uint8Array.of(10, 0, 10, 0),
    heights: Uint8Array.of(10, 0, 10, 0),
    skipped: [],
    ...pathFields(['a/0.jpg', 'a/1.jpg']),
    ...fields,
  };
  const block = packr.pack(Object.fromEntries(Object.entries(map).filter(([, value]) => value !== undefined)));
  return new Uint8Array([...new TextEncoder().encode(SHARD_MAGIC), ...block]);
}

function craftEpochBlock(fields: Record<string, unknown>): Uint8Array {
  return new Uint8Array(packr.pack({ kind: 'epoch', epoch: 0, crops: 1, topK: 1, records: 1, classBytes: 2, encoding: 'brotli', ...fields }));
}

// ---------------------------------------------------------------------------------------

describe('encodeShard / decodeShard round trip', () => {
  const cases: Array<[string, ShardSpec]> = [
    ['top-1, 1000 classes', { images: 9, crops: 4, epochs: 2, k: 1, numClasses: 1000, skipRate: 0.2 }],
    ['top-5, 1000 classes', { images: 17, crops: 4, epochs: 3, k: 5, numClasses: 1000, skipRate: 0.1 }],
    ['top-10, 1000 classes', { images: 8, crops: 3, epochs: 2, k: 10, numClasses: 1000, skipRate: 0.3 }],
    ['top-4 of 4 classes', { images: 12, crops: 2, epochs: 2, k: 4, numClasses: 4, skipRate: 0.1 }],
    ['top-1 of 4 classes', { images: 5, crops: 1, epochs: 1, k: 1, numClasses: 4 }],
    ['top-5 of 70000 classes (uint32 ids)', { images: 10, crops: 4, epochs: 2, k: 5, numClasses: 70_000, skipRate: 0.2 }],
    ['top-10 of 70000 classes, huge image', { images: 6, crops: 2, epochs: 2, k: 10, numClasses: 70_000, huge: true, imageStart: 123_000 }],
    ['crop count not a multiple of 8', { images: 7, crops: 3, epochs: 1, k: 5, numClasses: 1000 }],
  ];

  it.each(cases)('%s, over many seeds', (_, spec) => {
    for (let seed = 1; seed <= 12; seed++) {
      const input = randomShard(seed * 7919 + spec.k, spec);
      const { bytes, layout } = encodeShard(input.images, input.epochs, spec.numClasses);
      const key = `shards/${String(seed).padStart(6, '0')}.fkd`;
      const decoded = decodeShard(bytes, layout, { key, numClasses: spec.numClasses });
      expect(decoded.images).toEqual(input.images);
      expect(decoded.epochs.map(plain)).toEqual(input.epochs.map(plain));
      expect(decoded.layout).toEqual(layout);
      expect(decodeShard(bytes).layout).toEqual(layout);
      layout.epochs.forEach((ref, e) => {
        const block = bytes.subarray(ref.offset, ref.offset + ref.length);
        const records = decodeEpochBlock(block, { sha256: ref.sha256, key, epoch: e, records: ref.records, numClasses: spec.numClasses });
        expect(plain(records)).toEqual(plain(input.epochs[e] as EpochRecords));
      });
      const imageRef = layout.images;
      expect(decodeImageBlock(bytes.subarray(imageRef.offset, imageRef.offset + imageRef.length), { sha256: imageRef.sha256, key })).toEqual(input.images);
      expect(decodeImageBlock(bytes.subarray(0, imageRef.offset + imageRef.length), imageRef)).toEqual(input.images);
      expect(decodeImageBlock(bytes)).toEqual(input.images);
    }
  });

  it('lays blocks out back to back after the magic, with their hashes', () => {
    const input = randomShard(5, { images: 10, crops: 4, epochs: 3, k: 5, numClasses: 1000 });
    const { bytes, layout } = encodeShard(input.images, input.epochs, 1000);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe(SHARD_MAGIC);
    expect(layout.bytes).toBe(bytes.length);
    expect(layout.sha256).toBe(sha256Hex(bytes));
    expect(layout.images.offset).toBe(8);
    let end = layout.images.offset + layout.images.length;
    for (const [e, ref] of layout.epochs.entries()) {
      expect(ref).toMatchObject({ offset: end, epoch: e, records: 40 });
      expect(ref.sha256).toBe(sha256Hex(bytes.subarray(ref.offset, ref.offset + ref.length)));
      end = ref.offset + ref.length;
    }
    expect(end).toBe(bytes.length);
  });

  it('handles epochs with zero records (every image skipped) and shards without epochs', () => {
    const images: ImageBlock = {
      imageStart: 50,
      imageCount: 3,
      widths: new Uint32Array(3),
      heights: new Uint32Array(3),
      skipped: [0, 1, 2],
      paths: ['c0/a.jpg', 'c0/b.jpg', 'c1/c.jpg'],
    };
    const epochs = [emptyEpoch(0, 4, 5, 0), emptyEpoch(1, 4, 5, 0)];
    const { bytes, layout } = encodeShard(images, epochs, 1000);
    const decoded = decodeShard(bytes, layout);
    expect(decoded.epochs.map(plain)).toEqual(epochs.map(plain));
    expect(layout.epochs.map((ref) => ref.records)).toEqual([0, 0]);
    const none = encodeShard(images, [], 1000);
    expect(decodeShard(none.bytes, none.layout).epochs).toEqual([]);
    expect(decodeShard(none.bytes, none.layout).images.paths).toEqual(images.paths);
  });

  it('round-trips every image path, skipped ones and non-ASCII names included', () => {
    const input = randomShard(8, { images: 6, crops: 2, epochs: 1, k: 3, numClasses: 10, skipRate: 0.4 });
    const paths = [
      'café/ünïcode 1.jpg',
      'n01440764/n01440764_10026.JPEG',
      '日本語/画像 (2).png',
      'emoji/🐈‍⬛ cat.webp',
      'deep/a/b/c/d.tif',
      'space /.hidden-ok/x.gif',
    ];
    const images = { ...input.images, paths };
    const { bytes, layout } = encodeShard(images, input.epochs, 10);
    expect(decodeShard(bytes, layout).images.paths).toEqual(paths);
    expect(decodeImageBlock(bytes).paths).toEqual(paths);
    // A leading U+FEFF is part of the name, not a byte order mark to drop.
    const bom = { ...images, paths: ['\uFEFFbom.jpg', ...paths.slice(1)] };
    expect(decodeImageBlock(encodeShard(bom, input.epochs, 10).bytes).paths).toEqual(bom.paths);
  });

  it('encodes the same input to the same bytes', () => {
    const spec: ShardSpec = { images: 20, crops: 4, epochs: 2, k: 5, numClasses: 1000, skipRate: 0.1 };
    const first = encodeShard(randomShard(42, spec).images, randomShard(42, spec).epochs, 1000);
    const input = randomShard(42, spec);
    const second = encodeShard(input.images, input.epochs, 1000);
    expect(Buffer.from(second.bytes).equals(Buffer.from(first.bytes))).toBe(true);
    expect(second.layout).toEqual(first.layout);
    // Decoding and encoding again is also byte-identical: the encoding is canonical.
    const again = decodeShard(second.bytes);
    expect(Buffer.from(encodeShard(again.images, again.epochs, 1000).bytes).equals(Buffer.from(first.bytes))).toBe(true);
  });
});

describe('size on teacher-like data', () => {
  it('stays at or under 16 bytes per top-5 record including all framing', () => {
    const crops = 4;
    const input = realisticShard(2024, 500, crops, 2, 5);
    const { bytes } = encodeShard(input.images, input.epochs, 1000);
    const records = input.epochs.reduce((sum, epoch) => sum + epoch.count, 0);
    const perRecord = bytes.length / records;
    expect(perRecord).toBeLessThanOrEqual(16);
  });
});

describe('damage is always detected', () => {
  // The first seed from 77 whose small shard has both a skipped image and records.
  const spec = { images: 4, crops: 2, epochs: 2, k: 5, numClasses: 1000, skipRate: 0.3 };
  let seed = 77;
  while (randomShard(seed, spec).images.skipped.length === 0 || randomShard(seed, spec).epochs[0]!.count === 0) seed++;
  const input = randomShard(seed, spec);
  const { bytes, layout } = encodeShard(input.images, input.epochs, 1000);

  it('is a sane small shard', () => {
    expect(decodeShard(bytes, layout).epochs).toHaveLength(2);
    expect(input.images.skipped.length).toBeGreaterThan(0);
    expect(input.epochs[0]!.count).toBeGreaterThan(0);
    expect(bytes.length).toBeLessThan(1000);
  });

  it('catches every flipped byte, in every bit pattern tried, through the layout hashes', () => {
    for (let position = 0; position < bytes.length; position++) {
      for (const mask of [0x01, 0x10, 0x80, 0xff]) {
        const damaged = bytes.slice();
        damaged[position] = (damaged[position] as number) ^ mask;
        expectCorrupt(() => decodeShard(damaged, layout, { key: 'shards/000004.fkd' }), /shards\/000004\.fkd.*fkd verify/);
        for (const ref of [layout.images, ...layout.epochs]) {
          if (position < ref.offset || position >= ref.offset + ref.length) continue;
          const block = damaged.subarray(ref.offset, ref.offset + ref.length);
          if (ref === layout.images) expectCorrupt(() => decodeImageBlock(block, { sha256: ref.sha256, key: 'k' }));
          else expectCorrupt(() => decodeEpochBlock(block, { sha256: ref.sha256, key: 'k' }), /hashes to/);
        }
      }
    }
  });

  it('without hashes, damage only ever surfaces as E_CORRUPT_SHARD, never as a crash', () => {
    let caught = 0;
    let total = 0;
    for (let position = 0; position < bytes.length; position++) {
      for (const mask of [0x01, 0x10, 0x80, 0xff]) {
        const damaged = bytes.slice();
        damaged[position] = (damaged[position] as number) ^ mask;
        total++;
        const error = errorOf(() => decodeShard(damaged, undefined, { numClasses: 1000 }));
        if (error !== undefined) {
          expect(error.code).toBe('E_CORRUPT_SHARD');
          caught++;
        }
      }
    }
    // Framing and field validation alone catch ~80% of it here; the hashes catch the rest.
    expect(caught / total).toBeGreaterThan(0.75);
  });

  it('catches truncation at every length', () => {
    const blockEnds = new Set([layout.images, ...layout.epochs].map((ref) => ref.offset + ref.length));
    for (let length = 0; length < bytes.length; length++) {
      const cut = bytes.subarray(0, length);
      expectCorrupt(() => decodeShard(cut, layout));
      if (!blockEnds.has(length)) expectCorrupt(() => decodeShard(cut));
      else expect(decodeShard(cut).epochs.length).toBeLessThan(2);
    }
    for (const ref of layout.epochs) {
      const block = bytes.subarray(ref.offset, ref.offset + ref.length);
      for (let length = 0; length < block.length; length++) {
        expectCorrupt(() => decodeEpochBlock(block.subarray(0, length)));
        expectCorrupt(() => decodeEpochBlock(block.subarray(0, length), { sha256: ref.sha256, key: 'k' }));
      }
    }
    expectCorrupt(() => decodeImageBlock(bytes.subarray(0, layout.images.offset + 3), layout.images), /truncated/);
  });

  it('refuses a block from another epoch or with another record count than the manifest says', () => {
    const ref = layout.epochs[1]!;
    const block = bytes.subarray(ref.offset, ref.offset + ref.length);
    expectCorrupt(() => decodeEpochBlock(block, { sha256: ref.sha256, key: 'k', epoch: 0 }), /epoch 1 where the manifest says epoch 0/);
    expectCorrupt(() => decodeEpochBlock(block, { sha256: ref.sha256, key: 'k', records: 7 }), /manifest says 7/);
    expectCorrupt(() => decodeEpochBlock(block, { sha256: ref.sha256, key: 'k', numClasses: 70_000 }), /class ids/);
  });

  it('refuses a file that is not a shard', () => {
    expectCorrupt(() => decodeShard(new TextEncoder().encode('PK\x03\x04 not a shard')), /magic/);
    expectCorrupt(() => decodeShard(bytes.subarray(0, 8)), /no image block/);
    expectCorrupt(() => decodeImageBlock(new Uint8Array(0)));
  });
});

describe('image paths: a length cap and a compression-ratio cap (§4.4)', () => {
  it('refuses a path longer than 4096 bytes, and a pathsBytes above what the image count allows, before inflating', () => {
    const long = 'a/' + 'x'.repeat(3 * 1024 * 1024);
    const error = expectCorrupt(() => decodeShard(craftImageShard(pathFields([long, 'a/1.jpg']))), /pathsBytes is 3145738, not an integer in 3\.\.8193 for 2 images \(paths of at most 4096 bytes\)/);
    expect(error.message.length).toBeLessThan(1000);
    expectCorrupt(() => decodeShard(craftImageShard(pathFields(['a/' + 'y'.repeat(4095), 'a/1.jpg']))), /is longer than 4096 bytes/);
    expect(() => decodeShard(craftImageShard(pathFields(['a/' + 'y'.repeat(4094), 'a/1.jpg'])))).not.toThrow();
  });

  it('refuses paths that inflate more than 1024-fold past 1 MiB, a bomb within the length caps', () => {
    const n = 2000;
    const sizes = new Uint8Array(2 * n).map((_, i) => (i % 2 === 0 ? 10 : 0));
    const paths = Array.from({ length: n }, (_, i) => `${'d'.repeat(4000)}/${i}`);
    const fields = { imageCount: n, widths: sizes, heights: sizes, ...pathFields(paths) };
    expect(fields.pathsBytes).toBeGreaterThan(1024 * 1024);
    expect(fields.pathsBytes / fields.paths.length).toBeGreaterThan(1024);
    const error = expectCorrupt(() => decodeShard(craftImageShard(fields)), /ratio above 1024:1/);
    expect(error.message.length).toBeLessThan(1000);
  });
});

describe('MessagePack integers in 64-bit formats (§4: any integer format)', () => {
  const fieldsOf = (bytes: Uint8Array): Record<string, unknown> => unpackMultiple(bytes)[0] as Record<string, unknown>;
  /** The block re-packed with its integer fields as int64 (0xd3), and `unsigned` of them as uint64 (0xcf): non-minimal formats. */
  function wide(block: Uint8Array, unsigned: string[] = []): Uint8Array {
    const fields = fieldsOf(block);
    const widened = Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, typeof value === 'number' ? BigInt(value) : Array.isArray(value) ? value.map((item) => BigInt(item as number)) : value]));
    const bytes = new Uint8Array(packr.pack(widened));
    for (const name of unsigned) {
      const key = new TextEncoder().encode(name);
      const at = bytes.findIndex((_, i) => bytes[i] === (0xa0 | key.length) && key.every((c, j) => bytes[i + 1 + j] === c) && bytes[i + 1 + key.length] === 0xd3) + 1 + key.length;
      expect(at).toBeGreaterThan(key.length);
      bytes[at] = 0xcf;
    }
    return bytes;
  }

  it('reads every block field written as int64 or uint64, and an imageStart of 2^33', () => {
    const input = randomShard(11, { images: 6, crops: 2, epochs: 2, k: 3, numClasses: 10 });
    const { bytes, layout } = encodeShard({ ...input.images, imageStart: 2 ** 33 }, input.epochs, 10);
    const refs = [layout.images, ...layout.epochs];
    const blocks = refs.map((ref, i) => wide(bytes.subarray(ref.offset, ref.offset + ref.length), i === 0 ? ['imageStart', 'imageCount'] : ['records', 'epoch']));
    const rebuilt = new Uint8Array([...new TextEncoder().encode(SHARD_MAGIC), ...blocks.flatMap((block) => [...block])]);
    const decoded = decodeShard(rebuilt, undefined, { numClasses: 10 });
    const original = decodeShard(bytes, layout, { numClasses: 10 });
    expect(decoded.images.imageStart).toBe(2 ** 33);
    expect(decoded.images).toEqual(original.images);
    expect(decoded.epochs.map(plain)).toEqual(original.epochs.map(plain));
  });

  it('still refuses a 64-bit integer beyond 2^53 − 1', () => {
    expectCorrupt(() => decodeShard(craftImageShard({ imageStart: 2n ** 60n })), /imageStart/);
  });
});

describe('hostile blocks', () => {
  it('refuses a header claiming more records than the size cap, before decompressing', () => {
    const block = craftEpochBlock({ records: 2 ** 31, crops: 1, topK: 5, payload: new Uint8Array(10) });
    expectCorrupt(() => decodeEpochBlock(block), new RegExp(`${MAX_EPOCH_RAW_BYTES}-byte limit`));
  });

  it('stops a decompression bomb at the size the header implies', () => {
    const bomb = brotliCompressSync(new Uint8Array(16 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(1000);
    expectCorrupt(() => decodeEpochBlock(craftEpochBlock({ records: 8, payload: bomb })), /not a Brotli stream of at most/);
  });

  it('refuses a payload of the wrong size, unknown fields, other kinds and non-maps', () => {
    expectCorrupt(() => decodeEpochBlock(craftEpochBlock({ payload: brotliCompressSync(new Uint8Array(5)) })), /instead of 13/);
    expectCorrupt(() => decodeEpochBlock(craftEpochBlock({ payload: brotliCompressSync(new Uint8Array(13)), extra: 1 })), /fields/);
    expectCorrupt(() => decodeEpochBlock(craftEpochBlock({ kind: 'images', payload: new Uint8Array(1) })), /kind/);
    expectCorrupt(() => decodeEpochBlock(craftEpochBlock({ encoding: 'zstd', payload: new Uint8Array(1) })), /encoding/);
    expectCorrupt(() => decodeEpochBlock(craftEpochBlock({ classBytes: 3, payload: new Uint8Array(1) })), /classBytes/);
    expectCorrupt(() => decodeEpochBlock(craftEpochBlock({ records: 3, crops: 2, payload: new Uint8Array(1) })), /multiple/);
    expectCorrupt(() => decodeEpochBlock(craftEpochBlock({ payload: 'not bytes' })), /payload/);
    expectCorrupt(() => decodeEpochBlock(new Uint8Array(packr.pack([1, 2, 3]))), /not a MessagePack map/);
    const twice = craftEpochBlock({ payload: new Uint8Array(1) });
    expectCorrupt(() => decodeEpochBlock(new Uint8Array([...twice, ...twice])), /2 msgpack values/);
  });

  it('refuses decoded values that no encoder writes', () => {
    // One top-1 record: 8 box bytes, 1 flip byte, 2 class bytes, 2 code bytes.
    const columns = (patch: (raw: Uint8Array) => void): Uint8Array => {
      const raw = Uint8Array.of(1, 0, 2, 0, 3, 0, 4, 0, 0, 7, 0, 5, 0);
      patch(raw);
      return craftEpochBlock({ payload: brotliCompressSync(raw) });
    };
    expect(decodeEpochBlock(columns(() => {})).classes).toEqual(Uint32Array.of(7));
    expectCorrupt(() => decodeEpochBlock(columns((raw) => (raw[4] = 0))), /empty box/);
    expectCorrupt(() => decodeEpochBlock(columns((raw) => (raw[8] = 0b10))), /flip bits/);
  });

  it('refuses records whose probabilities cannot come from one distribution, or that repeat a class', () => {
    // Two top-2 records built by hand: 4 box columns as planes (4 × 4 bytes), 1 flip byte,
    // 4 uint16 classes, then 4 code deltas rank-major as planes (lo bytes 25..28, hi 29..32).
    const raw = new Uint8Array(16 + 1 + 8 + 8);
    for (let i = 0; i < 16; i++) raw[i] = i % 4 === 0 || i % 4 === 1 ? 1 : 0; // lo bytes 1
    raw.set([1, 0, 2, 0, 3, 0, 4, 0], 17); // classes (1, 2), (3, 4)
    raw.set([36, 36, 0, 0, 0, 0, 0, 0], 25); // codes (36, 36): 0.4956 each, sum ≤ 1
    const block = (bytes: Uint8Array): Uint8Array => craftEpochBlock({ records: 2, topK: 2, payload: brotliCompressSync(bytes) });
    expect(Array.from(decodeEpochBlock(block(raw)).codes)).toEqual([36, 36, 36, 36]);
    const tooMuch = raw.slice();
    tooMuch.set([30, 30], 25); // 0.557 + 0.557 > 1
    expectCorrupt(() => decodeEpochBlock(block(tooMuch)), /summing to 1\.11/);
    const repeated = raw.slice();
    repeated.set([1, 0, 1, 0], 17);
    expectCorrupt(() => decodeEpochBlock(block(repeated)), /class 1 twice/);
    const overflow = raw.slice();
    overflow.set([0xff, 0xff, 0xff, 0xff], 29); // every delta gains 0xff00: the sum passes 65535
    expectCorrupt(() => decodeEpochBlock(block(overflow)), /above 65535/);
  });

  it('finds a class repeated within a record, with a known class count or without, and never across records', () => {
    // Three top-3 records: the first two share classes across records (fine); the third repeats 7.
    const records = (classes: number[]): EpochRecords => {
      const n = classes.length / 3;
      const ones = new Uint16Array(n).fill(1);
      return { epoch: 0, crops: 1, topK: 3, count: n, top: new Uint16Array(n), left: new Uint16Array(n), height: ones, width: ones, flip: new Uint8Array(n), classes: Uint32Array.from(classes), codes: new Uint16Array(classes.length).fill(200) };
    };
    const clean = records([7, 3, 9, 9, 7, 3, 1, 2, 0]);
    const repeated = records([7, 3, 9, 9, 7, 3, 7, 2, 7]);
    for (const numClasses of [10, undefined, 2 ** 21]) {
      expect(checkRecordValues(clean, numClasses)).toBeUndefined();
      expect(checkRecordValues(repeated, numClasses)).toBe('record 2: class 7 twice');
    }
    expect(checkRecordValues(clean, 9)).toBe('record 0: class 9 ≥ 9 classes');
  });

  it('refuses image blocks with bad sizes or skipped lists', () => {
    const craft = craftImageShard;
    expect(decodeImageBlock(craft({})).widths).toEqual(Uint32Array.of(10, 10));
    expectCorrupt(() => decodeImageBlock(craft({ widths: Uint8Array.of(10, 0) })), /widths/);
    expectCorrupt(() => decodeImageBlock(craft({ skipped: [1, 1] })), /ascending/);
    expectCorrupt(() => decodeImageBlock(craft({ skipped: [2] })), /ascending/);
    expectCorrupt(() => decodeImageBlock(craft({ widths: Uint8Array.of(0, 0, 10, 0) })), /size of 0×10/);
    expectCorrupt(() => decodeImageBlock(craft({ sizeBytes: 4, widths: new Uint8Array(8), heights: new Uint8Array(8), skipped: [0, 1] })), /4-byte sizes/);
    expectCorrupt(() => decodeImageBlock(craft({ imageCount: 0, widths: new Uint8Array(0), heights: new Uint8Array(0) })), /imageCount/);
    expectCorrupt(() => decodeImageBlock(craft({ kind: 'epoch' })), /kind/);
  });

  it('refuses image blocks whose paths are forged, bombed, miscounted or unsafe', () => {
    const craft = craftImageShard;
    expect(decodeImageBlock(craft({})).paths).toEqual(['a/0.jpg', 'a/1.jpg']);
    const good = pathFields(['a/0.jpg', 'a/1.jpg']);
    // pathsBytes that does not match the stream, either way.
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: good.pathsBytes - 1 })), /not a Brotli stream of at most 14 bytes/);
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: good.pathsBytes + 1 })), /decompress to 15 bytes instead of 16/);
    // Out of range before anything is decompressed: above the cap, or too small for 2 paths.
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: MAX_PATHS_RAW_BYTES + 1 })), /pathsBytes/);
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: 2 })), /pathsBytes is 2, not an integer in 3\.\./);
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: -1 })), /pathsBytes/);
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: '15' })), /pathsBytes/);
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: undefined })), /fields/);
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: null })), /pathsBytes is null/);
    expectCorrupt(() => decodeImageBlock(craft({ paths: 'a/0.jpg' })), /paths is "a\/0\.jpg", not bytes/);
    expectCorrupt(() => decodeImageBlock(craft({ paths: good.paths.subarray(0, good.paths.length - 1) })), /not a Brotli stream of at most/);
    // A bomb: brotli stops at pathsBytes.
    const bomb = brotliCompressSync(new Uint8Array(16 * 1024 * 1024).fill(0x61));
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: 100, paths: bomb })), /not a Brotli stream of at most 100 bytes/);
    // Wrong count, empty, unsafe or non-UTF-8 paths.
    expectCorrupt(() => decodeImageBlock(craft(pathFields(['a/0.jpg']))), /1 paths for 2 images/);
    expectCorrupt(() => decodeImageBlock(craft(pathFields(['a/0.jpg', 'a/1.jpg', 'a/2.jpg']))), /3 paths for 2 images/);
    expectCorrupt(() => decodeImageBlock(craft(pathFields([], 'a/0.jpg\0a/1.jpg\0'))), /3 paths for 2 images/);
    expectCorrupt(() => decodeImageBlock(craft(pathFields([], '\0a/0.jpg'))), /image 0.*empty/);
    expectCorrupt(() => decodeImageBlock(craft(pathFields(['a/0.jpg', '../../etc/passwd']))), /image 1.*"\.\." segment/);
    expectCorrupt(() => decodeImageBlock(craft(pathFields(['/etc/passwd', 'a/1.jpg']))), /image 0.*absolute/);
    expectCorrupt(() => decodeImageBlock(craft(pathFields(['a\\0.jpg', 'a/1.jpg']))), /backslash/);
    const invalid = Uint8Array.of(0x61, 0x2f, 0xff, 0x00, 0x61, 0x2f, 0x62);
    expectCorrupt(() => decodeImageBlock(craft({ pathsBytes: invalid.length, paths: brotliCompressSync(invalid) })), /not valid UTF-8/);
  });

  it('checks boxes against their image and record counts against the image block', () => {
    const input = randomShard(3, { images: 3, crops: 2, epochs: 1, k: 5, numClasses: 1000 });
    const good = encodeShard(input.images, input.epochs, 1000);
    // Shrink image 0 in a re-framed file: its boxes no longer fit.
    const images = { ...input.images, widths: Uint32Array.of(1, input.images.widths[1] as number, input.images.widths[2] as number) };
    const imageBlock = encodeShard(images, [], 1000).bytes.subarray(8);
    const epochBlock = good.bytes.subarray(good.layout.epochs[0]!.offset);
    const reframed = new Uint8Array([...new TextEncoder().encode(SHARD_MAGIC), ...imageBlock, ...epochBlock]);
    expectCorrupt(() => decodeShard(reframed), /outside its 1×/);
    const fewer = { ...input.images, skipped: [2] };
    const fewerBlock = encodeShard(fewer, [], 1000).bytes.subarray(8);
    const mismatched = new Uint8Array([...new TextEncoder().encode(SHARD_MAGIC), ...fewerBlock, ...epochBlock]);
    expectCorrupt(() => decodeShard(mismatched), /not 2 images × 2 crops/);
  });
});

describe('encodeShard refuses input it could not read back', () => {
  const spec: ShardSpec = { images: 3, crops: 2, epochs: 1, k: 3, numClasses: 10 };
  const fresh = (): { images: ImageBlock; epochs: EpochRecords[] } => randomShard(9, spec);

  it.each([
    ['a wrong record count', (s: ReturnType<typeof fresh>) => void (s.epochs[0]!.count = 5), /records/],
    ['epochs out of order', (s: ReturnType<typeof fresh>) => void (s.epochs[0]!.epoch = 1), /in order/],
    ['unsorted codes', (s: ReturnType<typeof fresh>) => s.epochs[0]!.codes.set([9, 3, 20], 0), /out of order/],
    ['a class beyond numClasses', (s: ReturnType<typeof fresh>) => void (s.epochs[0]!.classes[0] = 10), /class 10 ≥ 10 classes/],
    ['a repeated class', (s: ReturnType<typeof fresh>) => s.epochs[0]!.classes.set([4, 4], 0), /twice/],
    ['a box outside its image', (s: ReturnType<typeof fresh>) => void (s.epochs[0]!.top[0] = 60000), /outside/],
    ['an empty box', (s: ReturnType<typeof fresh>) => void (s.epochs[0]!.width[0] = 0), /empty box/],
    ['a flip that is not 0 or 1', (s: ReturnType<typeof fresh>) => void (s.epochs[0]!.flip[0] = 2), /flip 2/],
    ['probabilities summing above 1', (s: ReturnType<typeof fresh>) => s.epochs[0]!.codes.set([0, 0, 0], 0), /summing/],
    ['topK above numClasses', (s: ReturnType<typeof fresh>) => void (s.epochs[0]!.topK = 11), /topK/],
    ['a wrong column type', (s: ReturnType<typeof fresh>) => void (s.epochs[0]!.classes = new Uint32Array(2)), /classes/],
    ['unsorted skipped images', (s: ReturnType<typeof fresh>) => void (s.images.skipped = [1, 0]), /ascending/],
    ['an image with records but no size', (s: ReturnType<typeof fresh>) => void (s.images.heights[1] = 0), /size/],
    ['no paths', (s: ReturnType<typeof fresh>) => void ((s.images as unknown as Record<string, unknown>).paths = undefined), /paths is undefined, not an array of 3/],
    ['too few paths', (s: ReturnType<typeof fresh>) => void s.images.paths.pop(), /not an array of 3/],
    ['too many paths', (s: ReturnType<typeof fresh>) => void s.images.paths.push('c0/x.jpg'), /not an array of 3/],
    ['a path that is not a string', (s: ReturnType<typeof fresh>) => void ((s.images.paths as unknown[])[1] = 7), /image 1, 7, is not a string/],
    ['an empty path', (s: ReturnType<typeof fresh>) => void (s.images.paths[1] = ''), /image 1, "", is empty/],
    ['a path with NUL', (s: ReturnType<typeof fresh>) => void (s.images.paths[0] = 'c0/a\0b.jpg'), /NUL/],
    ['an absolute path', (s: ReturnType<typeof fresh>) => void (s.images.paths[0] = '/data/c0/a.jpg'), /absolute/],
    ['a path with a .. segment', (s: ReturnType<typeof fresh>) => void (s.images.paths[2] = 'c0/../../a.jpg'), /image 2.*"\.\." segment/],
    ['a path that is just ..', (s: ReturnType<typeof fresh>) => void (s.images.paths[2] = '..'), /"\.\." segment/],
    ['a path with a . segment', (s: ReturnType<typeof fresh>) => void (s.images.paths[2] = './c0/a.jpg'), /segment/],
    ['a path with an empty segment', (s: ReturnType<typeof fresh>) => void (s.images.paths[2] = 'c0//a.jpg'), /segment/],
    ['a path with a backslash', (s: ReturnType<typeof fresh>) => void (s.images.paths[2] = 'c0\\a.jpg'), /backslash/],
    ['a path with a lone surrogate', (s: ReturnType<typeof fresh>) => void (s.images.paths[2] = 'c0/\ud800.jpg'), /surrogate/],
  ])('refuses %s with E_USAGE', (_, damage, pattern) => {
    const shard = fresh();
    damage(shard);
    expectUsage(() => encodeShard(shard.images, shard.epochs, 10), pattern);
  });

  it('refuses epochs that disagree on crops or topK', () => {
    const shard = randomShard(9, { ...spec, epochs: 2 });
    const other = randomShard(10, { ...spec, epochs: 1, k: 2 }).epochs[0]!;
    expectUsage(() => encodeShard(shard.images, [shard.epochs[0]!, { ...other, epoch: 1 }], 10), /epoch 0 has/);
  });
});

describe('docs/FORMAT.md', () => {
  /**
   * A reader written from the spec alone, with a plain msgpack decoder and node:zlib, as
   * a Python or Rust reader would be. If the code and the spec drift apart, this fails.
   */
  function specReader(file: Uint8Array): { images: Record<string, unknown>; paths: string[]; epochs: Array<Record<string, unknown>> } {
    expect(new TextDecoder().decode(file.subarray(0, 8))).toBe('FKDSHRD1');
    const [images, ...blocks] = unpackMultiple(file.subarray(8)) as Array<Record<string, unknown>>;
    const pathBytes = brotliDecompressSync(images!.paths as Uint8Array, { maxOutputLength: images!.pathsBytes as number });
    expect(pathBytes.length).toBe(images!.pathsBytes);
    const paths = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(pathBytes).split('\0');
    expect(paths).toHaveLength(images!.imageCount as number);
    const epochs = blocks.map((block) => {
      const n = block.records as number;
      const k = block.topK as number;
      const cb = block.classBytes as number;
      const raw = brotliDecompressSync(block.payload as Uint8Array);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      let at = 0;
      const plane = (count: number): number[] => {
        const values = Array.from({ length: count }, (_, i) => (raw[at + i] as number) + 256 * (raw[at + count + i] as number));
        at += 2 * count;
        return values;
      };
      const top = plane(n);
      const left = plane(n);
      const height = plane(n);
      const width = plane(n);
      const flip = Array.from({ length: n }, (_, i) => ((raw[at + Math.floor(i / 8)] as number) >> (i % 8)) & 1);
      at += Math.ceil(n / 8);
      const classes = Array.from({ length: n * k }, (_, q) => (cb === 2 ? view.getUint16(at + 2 * q, true) : view.getUint32(at + 4 * q, true)));
      at += n * k * cb;
      const deltas = plane(n * k); // rank-major: deltas[j * n + i]
      const codes: number[] = [];
      const probs: number[] = [];
      for (let i = 0; i < n; i++) {
        let c = 0;
        for (let j = 0; j < k; j++) {
          c += deltas[j * n + i] as number;
          codes.push(c);
          probs.push(c === 65535 ? 0 : Math.exp(-c * 0.0195));
        }
      }
      expect(at).toBe(raw.length);
      return { ...block, top, left, height, width, flip, classes, codes, probs };
    });
    return { images: images as Record<string, unknown>, paths, epochs };
  }

  it('describes the bytes the encoder writes', () => {
    expect(PROBABILITY_STEP_LN).toBe(0.0195);
    for (const numClasses of [1000, 70_000]) {
      const input = randomShard(31, { images: 11, crops: 3, epochs: 2, k: 5, numClasses, skipRate: 0.2 });
      const { bytes } = encodeShard(input.images, input.epochs, numClasses);
      const read = specReader(bytes);
      expect(read.images).toMatchObject({ kind: 'images', imageStart: 0, imageCount: 11, sizeBytes: 2, skipped: input.images.skipped });
      expect(read.paths).toEqual(input.images.paths);
      read.epochs.forEach((block, e) => {
        const want = input.epochs[e]!;
        expect(block).toMatchObject({
          kind: 'epoch',
          epoch: e,
          crops: 3,
          topK: 5,
          records: want.count,
          classBytes: numClasses > 65536 ? 4 : 2,
          encoding: 'brotli',
          top: Array.from(want.top),
          left: Array.from(want.left),
          height: Array.from(want.height),
          width: Array.from(want.width),
          flip: Array.from(want.flip),
          classes: Array.from(want.classes),
          codes: Array.from(want.codes),
        });
      });
    }
  });
});
