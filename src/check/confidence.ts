import { decodeProbability } from '../labels/codec.js';
import { folderClasses } from '../store/folders.js';
import type { LabelSet } from '../store/labels.js';

/** The thresholds `fkd info --json` reports, spanning the calibrated mode's useful range. */
export const CONFIDENCE_THRESHOLDS = [0.1, 0.3, 0.5] as const;

export interface ConfidenceShares {
  records: number;
  /** Per threshold t: the share of records whose stored probability of the folder class is below t (0 when outside the top-k). */
  below: Array<{ threshold: number; share: number }>;
}

/**
 * Reads every record of a store once and counts how many a calibrated loader with each
 * threshold would turn into the one-hot of the folder class (`target: { mode: 'calibrated' }`).
 * The comparison is the loader's: the decoded stored probability, strictly below.
 *
 * @example
 * const { below } = await confidenceShares(await openLabels('./labels'));
 */
export async function confidenceShares(labels: LabelSet, thresholds: readonly number[] = CONFIDENCE_THRESHOLDS): Promise<ConfidenceShares> {
  const classIndex = new Map(labels.manifest.dataset.classes.map((name, index) => [name, index]));
  const counts = new Array<number>(thresholds.length).fill(0);
  let records = 0;
  for (const shard of labels.manifest.shards) {
    const { classOf } = folderClasses(await labels.readImages(shard), classIndex, `${labels.location}/${shard.key}`);
    for (let epoch = 0; epoch < labels.epochs; epoch++) {
      const block = await labels.readEpoch(shard, epoch);
      for (let record = 0; record < block.count; record++) {
        const folder = classOf[Math.floor(record / block.crops)]!;
        let p = 0;
        for (let j = 0; j < block.topK; j++) if (block.classes[record * block.topK + j] === folder) p = Math.fround(decodeProbability(block.codes[record * block.topK + j]!));
        thresholds.forEach((t, i) => {
          if (p < t) counts[i]!++;
        });
      }
      records += block.count;
    }
  }
  return { records, below: thresholds.map((threshold, i) => ({ threshold, share: records === 0 ? 0 : counts[i]! / records })) };
}
