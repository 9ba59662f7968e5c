// Streams a label store through the public reader, epoch by epoch and shard by shard, into the
// report's statistics and contact-sheet sample. Memory: the reader's retained epoch blocks plus
// fixed-size bins; nothing grows with the record count here.
import { storeInfo, type StoreInfo } from '../check/info.js';
import { FkdError } from '../errors.js';
import { orderedWindow } from '../pipeline/ordered-window.js';
import type { CodecDescription } from '../labels/codec.js';
import { decodeProbability } from '../labels/codec.js';
import type { EpochRecords, ImageBlock } from '../store/format/columns.js';
import { folderClasses } from '../store/folders.js';
import { openLabels, type LabelSet, type OpenLabelsOptions } from '../store/labels.js';
import type { ManifestSampler, ManifestTeacher, ShardEntry } from '../store/manifest.js';
import { RecordSample, type SampledRecord } from './sample.js';
import { StatsAccumulator, type RecordStats } from './stats.js';

export interface CollectProgress {
  /** Epoch blocks read so far, of `blocksTotal` (epochs × shards). */
  blocksDone: number;
  blocksTotal: number;
  records: number;
  epoch: number;
}

export interface CollectOptions extends OpenLabelsOptions {
  /** Records to sample for a contact sheet (default 0: none). */
  sample?: number;
  /** Which records are sampled (default 0). */
  seed?: number;
  onProgress?: (progress: CollectProgress) => void;
  signal?: AbortSignal;
}

/** Everything the report shows, as data (`fkd report --json`). */
export interface ReportData {
  info: StoreInfo;
  teacher: ManifestTeacher;
  sampler: ManifestSampler;
  codec: CodecDescription;
  classes: string[];
  /** When the label run wrote its manifest, and with which fkd. */
  createdAt: string;
  tool: { name: string; version: string };
  /** The dataset fingerprint the labels were made from. */
  fingerprint: string;
  stats: RecordStats;
  /** The contact sheet's records (empty unless `sample` was asked for). */
  sample: SampledRecord[];
}

const READ_AHEAD = 16;
const CAPTION_CLASSES = 3;

/**
 * Reads every record of a label store once and returns the report's statistics.
 *
 * @example
 * const data = await collectReport('./labels');
 * console.log(data.stats.agreement, data.stats.byClass.slice(0, 5));
 */
export async function collectReport(location: string, options: CollectOptions = {}): Promise<ReportData> {
  const { sample: sampleSize = 0, seed = 0, onProgress, signal, ...openOptions } = options;
  if (!Number.isInteger(sampleSize) || sampleSize < 0) throw new FkdError('E_USAGE', `Expected a non-negative integer for sample but received ${String(sampleSize)}.`);
  if (!Number.isInteger(seed) || seed < 0) throw new FkdError('E_USAGE', `Expected a non-negative integer for seed but received ${String(seed)}.`);
  const info = await storeInfo(location, openOptions);
  const labels = await openLabels(location, { ...openOptions, allowIncomplete: true });
  const { manifest } = labels;
  const classes = manifest.dataset.classes;
  const classIndex = new Map(classes.map((name, index) => [name, index]));
  const stats = new StatsAccumulator({ classes, topK: manifest.codec.topK, target: manifest.codec.target, scale: manifest.sampler.scale });
  const sample = new RecordSample(sampleSize, seed);
  const shards = manifest.shards;
  const progress: CollectProgress = { blocksDone: 0, blocksTotal: shards.length * labels.epochs, records: 0, epoch: 0 };

  for (let epoch = 0; epoch < labels.epochs; epoch++) {
    progress.epoch = epoch;
    // Reads run ahead of the shard being counted; counting stays in shard order, so the sums
    // and the sample are the same on every run.
    const read = (i: number): Promise<[ImageBlock, EpochRecords]> => Promise.all([labels.readImages(shards[i]!), labels.readEpoch(shards[i]!, epoch)]);
    let i = 0;
    for await (const [images, block] of orderedWindow(shards.length, READ_AHEAD, read, { signal })) {
      const shard = shards[i++]!;
      const facts = imageFacts(images, classIndex, shard, labels);
      stats.add(block, facts);
      if (sampleSize > 0) offerRecords(sample, block, facts, images);
      progress.blocksDone++;
      progress.records += block.count;
      onProgress?.({ ...progress });
    }
  }
  return {
    info,
    teacher: manifest.teacher,
    sampler: manifest.sampler,
    codec: manifest.codec,
    classes,
    createdAt: manifest.createdAt,
    tool: manifest.tool,
    fingerprint: manifest.dataset.fingerprint,
    stats: stats.result(),
    sample: sample.records(),
  };
}

interface Facts {
  classOf: Int32Array;
  areaOf: Float64Array;
  /** Dataset index of each present image. */
  imageOf: Float64Array;
  /** Index into the image block's paths of each present image. */
  local: Uint32Array;
}

/** Folder class and area of each image with records, from the shard's image block. */
function imageFacts(images: ImageBlock, classIndex: ReadonlyMap<string, number>, shard: ShardEntry, labels: LabelSet): Facts {
  const { local, classOf } = folderClasses(images, classIndex, `${labels.location}/${shard.key}`);
  const areaOf = new Float64Array(local.length);
  const imageOf = new Float64Array(local.length);
  for (let i = 0; i < local.length; i++) {
    const at = local[i]!;
    areaOf[i] = images.widths[at]! * images.heights[at]!;
    imageOf[i] = images.imageStart + at;
  }
  return { classOf, areaOf, imageOf, local };
}

function offerRecords(sample: RecordSample, block: EpochRecords, facts: Facts, images: ImageBlock): void {
  const shown = Math.min(CAPTION_CLASSES, block.topK);
  for (let record = 0; record < block.count; record++) {
    const i = Math.floor(record / block.crops);
    const crop = record % block.crops;
    const image = facts.imageOf[i]!;
    sample.offer(block.epoch, image, crop, () => ({
      epoch: block.epoch,
      image,
      path: images.paths[facts.local[i]!]!,
      crop,
      box: { top: block.top[record]!, left: block.left[record]!, height: block.height[record]!, width: block.width[record]!, flip: block.flip[record] === 1 },
      folderClass: facts.classOf[i]!,
      top: Array.from({ length: shown }, (_, j) => ({
        classIndex: block.classes[record * block.topK + j]!,
        probability: decodeProbability(block.codes[record * block.topK + j]!),
      })),
    }));
  }
}
