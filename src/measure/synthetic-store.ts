import pLimit from 'p-limit';
import { CounterRandom, keyOf } from '../crop/rng.js';
import { CONTENT_HASH_BYTES, contentHash } from '../dataset/file.js';
import { fingerprintOf, type Dataset, type DatasetImage } from '../dataset/scan.js';
import { ExclusionLog } from '../dataset/exclusions.js';
import type { LabelConfig } from '../store/config.js';
import { planShards, shardsOfSlice, type Slice } from '../store/shards.js';
import { codecDescription, encodeProbability } from '../labels/codec.js';
import { decodeShard } from '../store/format/decode.js';
import { encodeShard } from '../store/format/encode.js';
import type { EncodedShard, EpochRecords, ImageBlock, ShardLayout } from '../store/format/columns.js';
import { sha256Hex } from '../io/hash.js';
import { openStore } from '../storage/open.js';
import { MANIFEST_VERSION } from '../store/manifest.js';
import { LabelStoreWriter } from '../store/writer/writer.js';

/**
 * A label store of ImageNet's shape made without images or a teacher, for scale tests: the
 * real encoder writes every shard, entry and the manifest, from made-up boxes and top-k
 * probabilities. The image files do not exist; `syntheticDataset` is the matching scan.
 */
export interface SyntheticStoreOptions {
  images: number;
  classes?: number;
  shardImages?: number;
  epochs?: number;
  crops?: number;
  topK?: number;
  /** Write only this worker's shards (`shardsOfSlice`). The caller finalizes once every slice is written. */
  slice?: Slice;
  /** Called after each shard is written. */
  onShard?: (done: number, total: number) => void;
}

const WIDTH = 500;
const HEIGHT = 375;

interface PooledRecord {
  top: number;
  left: number;
  height: number;
  width: number;
  flip: number;
  offsets: number[];
  codes: number[];
}

/** 251 seeded boxes inside a 500×375 image, each with a sorted, peaked top-k over distinct classes. */
function boxPool(topK: number, classes: number): PooledRecord[] {
  const random = new CounterRandom(keyOf(7));
  return Array.from({ length: 251 }, () => {
    const height = 40 + random.below(HEIGHT - 40);
    const width = Math.min(WIDTH, 30 + random.below(height * 2));
    const codes: number[] = [];
    const offsets: number[] = [];
    // Multiples of one step below classes / topK: topK distinct classes, the true one first.
    const step = 1 + random.below(Math.max(1, Math.floor((classes - 1) / topK)));
    let left = 1;
    let mass = 1;
    for (let j = 0; j < topK; j++) {
      mass = Math.min(mass, left * random.uniform(0.3, 0.9));
      left -= mass;
      codes.push(encodeProbability(mass));
      offsets.push(j * step);
    }
    return { top: random.below(HEIGHT - height + 1), left: random.below(WIDTH - width + 1), height, width, flip: random.below(2), offsets, codes };
  });
}

function imageBlock(imageStart: number, imageCount: number, images: number, classes: number): ImageBlock {
  const paths = Array.from({ length: imageCount }, (_, i) => pathOf(imageStart + i, images, classes));
  return {
    imageStart,
    imageCount,
    widths: new Uint32Array(imageCount).fill(WIDTH),
    heights: new Uint32Array(imageCount).fill(HEIGHT),
    skipped: [],
    paths,
    contentHashes: syntheticHashes(paths),
  };
}

/** Stand-ins for the files' content hashes (there are no files): as incompressible as real ones. */
function syntheticHashes(paths: string[]): Uint8Array {
  const hashes = new Uint8Array(paths.length * CONTENT_HASH_BYTES);
  paths.forEach((path, i) => hashes.set(contentHash(new TextEncoder().encode(path)), i * CONTENT_HASH_BYTES));
  return hashes;
}

/**
 * Records cycle through the pool: realistic box and probability bytes, the same for every shard
 * of a size (so their classes follow the first shard's images, not each shard's own).
 */
function epochRecords(imageCount: number, crops: number, topK: number, epochs: number, pool: PooledRecord[], images: number, classes: number): EpochRecords[] {
  const count = imageCount * crops;
  return Array.from({ length: epochs }, (_, epoch) => {
    const r: EpochRecords = { epoch, crops, topK, count, top: new Uint16Array(count), left: new Uint16Array(count), height: new Uint16Array(count), width: new Uint16Array(count), flip: new Uint8Array(count), classes: new Uint32Array(count * topK), codes: new Uint16Array(count * topK) };
    for (let record = 0; record < count; record++) {
      const image = Math.floor(record / crops);
      const p = pool[(image * 31 + (record % crops) * 7 + epoch * 13) % pool.length]!;
      r.top[record] = p.top;
      r.left[record] = p.left;
      r.height[record] = p.height;
      r.width[record] = p.width;
      r.flip[record] = p.flip;
      const truth = classOf(image, images, classes);
      for (let j = 0; j < topK; j++) {
        r.classes[record * topK + j] = (truth + p.offsets[j]!) % classes;
        r.codes[record * topK + j] = p.codes[j]!;
      }
    }
    return r;
  });
}

/** The image block alone, encoded off the main thread's critical path: a shard with no epochs. */
async function encodeImageBlockOff(block: ImageBlock, classes: number): Promise<EncodedShard> {
  await new Promise((resolve) => setImmediate(resolve));
  return encodeShard(block, [], classes);
}

/** ImageNet-like names: `n00000007/n00000007_123.JPEG`, classes in sorted order, images sorted within. */
function classOf(index: number, images: number, classes: number): number {
  return Math.floor((index * classes) / images);
}

const className = (c: number): string => `n${String(c).padStart(8, '0')}`;

function pathOf(index: number, images: number, classes: number): string {
  const c = classOf(index, images, classes);
  return `${className(c)}/${className(c)}_${String(index).padStart(8, '0')}.JPEG`;
}

/**
 * The dataset scan the synthetic store was "made from" (one object per image, as `scanDataset`
 * returns): paths, classes and a nominal 110 KB size, so the fingerprint matches the manifest.
 *
 * @example
 * const dataset = syntheticDataset('/nonexistent', 1_281_167);
 */
export function syntheticDataset(root: string, images: number, classes = 1000): Dataset {
  const list: DatasetImage[] = [];
  for (let i = 0; i < images; i++) list.push({ path: pathOf(i, images, classes), classIndex: classOf(i, images, classes), size: 110_000 });
  const names = Array.from({ length: classes }, (_, c) => className(c));
  return { root, classes: names, images: list, excluded: new ExclusionLog(), fingerprint: fingerprintOf(names, list) };
}

/**
 * Writes the store at `location` (a directory or s3:// URL) and returns the dataset it matches.
 *
 * @example
 * await makeSyntheticStore('/tmp/in1k-labels', { images: 1_281_167 });
 */
export async function makeSyntheticStore(location: string, options: SyntheticStoreOptions): Promise<Dataset> {
  const { images } = options;
  const classes = options.classes ?? 1000;
  const shardImages = options.shardImages ?? 1000;
  const epochs = options.epochs ?? 2;
  const crops = options.crops ?? 4;
  const topK = options.topK ?? 5;
  const dataset = syntheticDataset(location, images, classes);
  const config: LabelConfig = {
    format: 'fkd-labels-config',
    version: MANIFEST_VERSION,
    dataset: { images, classes: dataset.classes, fingerprint: dataset.fingerprint },
    teacher: { file: 'synthetic.onnx', sha256: '0'.repeat(64), engine: 'onnx', inputSize: 224, layout: 'nchw', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], outputs: 'logits', temperature: 1 },
    sampler: { seed: 0, scale: [0.08, 1], ratio: [0.75, 4 / 3], flip: 0.5, epochs, crops, interpolation: 'bilinear', maxPixels: 268_402_689 },
    codec: codecDescription(topK, 'marginal'),
    shardImages,
  };
  const writer = await LabelStoreWriter.claim(await openStore(location), config, { backend: 'synthetic', ...(options.slice ? { slice: options.slice } : {}) });
  const plan = planShards(images, shardImages);
  const pool = boxPool(topK, classes);
  // Brotli at quality 11 (the encoder's only setting) costs seconds per shard on a loaded
  // 2-core machine, hours for 1,282 shards. So the epoch blocks, which do not depend on the
  // shard, are encoded once per shard size; each shard's image block (its own paths and
  // imageStart) is encoded for it; both come from encodeShard and are framed as it frames them.
  const templates = new Map<number, { bytes: Uint8Array; layout: EncodedShard['layout'] }>();
  const template = (imageCount: number) => {
    let found = templates.get(imageCount);
    if (!found) {
      found = encodeShard(imageBlock(0, imageCount, images, classes), epochRecords(imageCount, crops, topK, epochs, pool, images, classes), classes);
      templates.set(imageCount, found);
    }
    return found;
  };
  const limit = pLimit(2);
  let done = 0;
  await Promise.all(
    (options.slice ? shardsOfSlice(plan, options.slice) : plan).map((shard) =>
      limit(async () => {
        const epochsOf = template(shard.imageCount);
        const head = await encodeImageBlockOff(imageBlock(shard.imageStart, shard.imageCount, images, classes), classes);
        const imageRef = head.layout.images;
        const imageBytes = head.bytes.subarray(imageRef.offset, imageRef.offset + imageRef.length);
        const firstEpoch = epochsOf.layout.epochs[0]!.offset;
        const epochBytes = epochsOf.bytes.subarray(firstEpoch);
        const bytes = new Uint8Array(imageRef.offset + imageBytes.length + epochBytes.length);
        bytes.set(head.bytes.subarray(0, imageRef.offset + imageRef.length), 0);
        bytes.set(epochBytes, imageRef.offset + imageBytes.length);
        const shift = imageRef.offset + imageBytes.length - firstEpoch;
        const layout: ShardLayout = {
          bytes: bytes.length,
          sha256: sha256Hex(bytes),
          images: imageRef,
          epochs: epochsOf.layout.epochs.map((ref) => ({ ...ref, offset: ref.offset + shift })),
        };
        decodeShard(bytes, layout);
        await writer.commit({ shard, bytes, layout, records: shard.imageCount * crops * epochs, skipped: [] });
        options.onShard?.(++done, options.slice ? shardsOfSlice(plan, options.slice).length : plan.length);
      }),
    ),
  );
  return dataset;
}
