import { describe, expect, it } from 'vitest';
import { CONTENT_HASH_BYTES, contentHash, readImageFile } from '../../src/dataset/file.js';
import type { EpochRecords, ImageBlock } from '../../src/store/format/columns.js';
import { decodeImageBlock, decodeShard } from '../../src/store/format/decode.js';
import { encodeShard } from '../../src/store/format/encode.js';
import { thrownError } from '../helpers/errors.js';

/** Three images, the middle one skipped, with format 2's content hashes. */
function images(hashes?: Uint8Array): ImageBlock {
  return {
    imageStart: 10,
    imageCount: 3,
    widths: Uint32Array.of(40, 0, 30),
    heights: Uint32Array.of(20, 0, 30),
    skipped: [1],
    paths: ['a/x.jpg', 'a/y.jpg', 'b/z.jpg'],
    ...(hashes === undefined ? {} : { contentHashes: hashes }),
  };
}

function hashes(): Uint8Array {
  const out = new Uint8Array(3 * CONTENT_HASH_BYTES);
  out.set(contentHash(new TextEncoder().encode('x')), 0);
  out.set(contentHash(new TextEncoder().encode('z')), 2 * CONTENT_HASH_BYTES);
  return out;
}

const epoch: EpochRecords = {
  epoch: 0, crops: 1, topK: 1, count: 2,
  top: Uint16Array.of(0, 1), left: Uint16Array.of(0, 2), height: Uint16Array.of(10, 20), width: Uint16Array.of(10, 20),
  flip: Uint8Array.of(0, 1), classes: Uint32Array.of(0, 1), codes: Uint16Array.of(0, 0),
};

describe('content hashes', () => {
  it('are the first 8 bytes of the SHA-256 of the file bytes (the FIPS 180-2 "abc" vector)', () => {
    expect(Buffer.from(contentHash(new TextEncoder().encode('abc'))).toString('hex')).toBe('ba7816bf8f01cfea');
  });

  it('are read from the same bytes that are returned, and a missing file is E_IO naming it', async () => {
    const read = await readImageFile(new URL('../../package.json', import.meta.url).pathname, 'package.json');
    expect(read.hash).toEqual(contentHash(read.bytes));
    await expect(readImageFile('/nonexistent/x.jpg', 'a/x.jpg')).rejects.toMatchObject({ code: 'E_IO', path: 'a/x.jpg', message: expect.stringMatching(/^a\/x\.jpg: cannot read the file/) });
  });
});

describe('format 2 image blocks', () => {
  it('round-trip their content hashes, and format 1 blocks keep decoding without them', () => {
    const v2 = decodeShard(encodeShard(images(hashes()), [epoch], 2).bytes);
    expect(v2.images.contentHashes).toEqual(hashes());
    const v1 = decodeShard(encodeShard(images(), [epoch], 2).bytes);
    expect(v1.images.contentHashes).toBeUndefined();
  });

  it('add exactly 8 bytes per image plus the field name', () => {
    const with2 = encodeShard(images(hashes()), [epoch], 2).layout.images.length;
    const with1 = encodeShard(images(), [epoch], 2).layout.images.length;
    expect(with2 - with1).toBe(3 * 8 + '\xadcontentHashes'.length + 2);
  });

  it('are refused when the hashes have the wrong length, or a skipped image has one', () => {
    expect(thrownError(() => encodeShard(images(new Uint8Array(23)), [epoch], 2)).message).toMatch(/contentHashes is 23 bytes, not 24 bytes/);
    const skippedHashed = hashes();
    skippedHashed[CONTENT_HASH_BYTES] = 1;
    expect(thrownError(() => encodeShard(images(skippedHashed), [epoch], 2)).message).toMatch(/skipped image 1 has a non-zero content hash/);
  });

  it('must match the manifest\'s format version: no hashes in format 2, hashes in format 1, are E_CORRUPT_SHARD', () => {
    const v1 = encodeShard(images(), [epoch], 2);
    const v2 = encodeShard(images(hashes()), [epoch], 2);
    const missing = thrownError(() => decodeImageBlock(v1.bytes, { ...v1.layout.images, key: 's', contentHashes: true }));
    expect(missing.code).toBe('E_CORRUPT_SHARD');
    expect(missing.message).toMatch(/no content hashes, which format 2 requires/);
    expect(thrownError(() => decodeImageBlock(v2.bytes, { ...v2.layout.images, key: 's', contentHashes: false })).message).toMatch(/content hashes, which format 1 does not allow/);
    expect(decodeImageBlock(v2.bytes, { ...v2.layout.images, key: 's', contentHashes: true }).contentHashes).toEqual(hashes());
  });
});

describe('labels blocks (boxes-from stores)', () => {
  it('store classes and codes only, decode with zero boxes marked boxless, and must match the manifest', () => {
    const full = encodeShard(images(hashes()), [epoch], 2);
    const labelsOnly = encodeShard(images(hashes()), [epoch], 2, { boxes: false });
    // 2 records: 4 box planes of 2 bytes and one flip byte fewer before compression.
    expect(labelsOnly.layout.epochs[0]!.length).toBeLessThan(full.layout.epochs[0]!.length);
    const decoded = decodeShard(labelsOnly.bytes);
    expect(decoded.epochs[0]).toMatchObject({ boxless: true, classes: epoch.classes, codes: epoch.codes });
    expect([...decoded.epochs[0]!.height]).toEqual([0, 0]);
    expect(thrownError(() => decodeShard(labelsOnly.bytes, labelsOnly.layout, { key: 's', boxless: false })).message).toMatch(/is a "labels" block \(no boxes\), but the manifest names no boxesFrom store/);
    expect(thrownError(() => decodeShard(full.bytes, full.layout, { key: 's', boxless: true })).message).toMatch(/is an "epoch" block, but the manifest's boxesFrom says its blocks hold labels only/);
  });
});
