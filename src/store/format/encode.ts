import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import { Packr } from 'msgpackr';
import { sha256Hex } from '../../io/hash.js';
import {
  BROTLI_QUALITY,
  BROTLI_WINDOW_BITS,
  MAGIC,
  MAX_PATHS_RAW_BYTES,
  PATH_SEPARATOR,
  classBytesFor,
  packColumns,
  presentImages,
  writeUints,
  type BlockRef,
  type EncodedShard,
  type EpochRecords,
  type ImageBlock,
} from './columns.js';
import { checkEpochInput, checkImageBlock, checkInteger, usage } from './validate.js';

/** Writing shards: the encoder refuses anything the decoder would reject. */

// Plain msgpack maps, ints and bins only: no msgpackr records or typed-array extensions,
// so a Python or Rust reader needs nothing but a standard msgpack library.
const packr = new Packr({ useRecords: false, variableMapSize: true });
const utf8Encoder = new TextEncoder();

/**
 * Encode a shard: one image block, then one epoch block per element of `epochs`, which
 * must be epochs 0..E-1 in order. Identical input gives identical bytes. Input that the
 * decoder would reject is refused with `E_USAGE`, so a written shard always reads back.
 *
 * @example
 * const { bytes, layout } = encodeShard(
 *   { imageStart: 0, imageCount: 1, widths: Uint32Array.of(500), heights: Uint32Array.of(375), skipped: [],
 *     paths: ['n01440764/n01440764_10026.JPEG'] },
 *   [{ epoch: 0, crops: 1, topK: 1, count: 1, top: Uint16Array.of(10), left: Uint16Array.of(20),
 *      height: Uint16Array.of(200), width: Uint16Array.of(220), flip: Uint8Array.of(1),
 *      classes: Uint32Array.of(7), codes: Uint16Array.of(5) }],
 *   1000,
 * );
 * await driver.put('shards/000000.fkd', bytes); // and record `layout` in the manifest
 */
export function encodeShard(images: ImageBlock, epochs: EpochRecords[], numClasses: number, options: { boxes?: boolean } = {}): EncodedShard {
  // `boxes: false` writes `labels` blocks (a boxes-from store): the records still carry their
  // boxes, which are checked, but only the labels are stored.
  const boxes = options.boxes ?? true;
  checkInteger(numClasses, 'numClasses', 1, 0xffffffff);
  checkImageBlock(images, usage);
  const present = presentImages(images);
  const blocks: Uint8Array[] = [encodeImageBlock(images)];
  epochs.forEach((records, index) => {
    checkEpochInput(records, index, epochs[0] as EpochRecords, images, present, numClasses);
    blocks.push(encodeEpochBlock(records, numClasses, boxes));
  });
  const total = MAGIC.length + blocks.reduce((sum, block) => sum + block.length, 0);
  const bytes = new Uint8Array(total);
  bytes.set(MAGIC, 0);
  let offset = MAGIC.length;
  const refs: BlockRef[] = blocks.map((block) => {
    bytes.set(block, offset);
    const ref = { offset, length: block.length, sha256: sha256Hex(block) };
    offset += block.length;
    return ref;
  });
  const [imageRef, ...epochRefs] = refs as [BlockRef, ...BlockRef[]];
  return {
    bytes,
    layout: {
      bytes: total,
      sha256: sha256Hex(bytes),
      images: imageRef,
      epochs: epochRefs.map((ref, e) => ({ ...ref, epoch: e, records: (epochs[e] as EpochRecords).count })),
    },
  };
}

function encodeImageBlock(images: ImageBlock): Uint8Array {
  let largest = 0;
  for (let i = 0; i < images.imageCount; i++) {
    largest = Math.max(largest, images.widths[i] as number, images.heights[i] as number);
  }
  const sizeBytes = largest > 0xffff ? 4 : 2;
  const paths = utf8Encoder.encode(images.paths.join(PATH_SEPARATOR));
  if (paths.length > MAX_PATHS_RAW_BYTES) {
    throw usage(`the image paths take ${paths.length} bytes, above the ${MAX_PATHS_RAW_BYTES}-byte limit; use fewer images per shard`);
  }
  const block: Record<string, unknown> = {
    kind: 'images',
    imageStart: images.imageStart,
    imageCount: images.imageCount,
    sizeBytes,
    widths: writeUints(images.widths, sizeBytes),
    heights: writeUints(images.heights, sizeBytes),
    skipped: [...images.skipped],
    pathsBytes: paths.length,
    paths: brotli(paths),
  };
  // Format 2's one addition, last, so a format 1 block is a prefix-compatible subset.
  if (images.contentHashes !== undefined) block.contentHashes = images.contentHashes;
  return packr.pack(block);
}

/** Brotli with the fixed settings above, so identical input gives identical bytes. */
function brotli(raw: Uint8Array): Uint8Array {
  const compressed = brotliCompressSync(raw, {
    params: {
      [zlibConstants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [zlibConstants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
      [zlibConstants.BROTLI_PARAM_MODE]: zlibConstants.BROTLI_MODE_GENERIC,
    },
  });
  return new Uint8Array(compressed.buffer, compressed.byteOffset, compressed.length);
}

function encodeEpochBlock(records: EpochRecords, numClasses: number, boxes: boolean): Uint8Array {
  const classBytes = classBytesFor(numClasses);
  const payload = brotli(packColumns(records, classBytes, boxes));
  return packr.pack({
    kind: boxes ? 'epoch' : 'labels',
    epoch: records.epoch,
    crops: records.crops,
    topK: records.topK,
    records: records.count,
    classBytes,
    encoding: 'brotli',
    payload,
  });
}
