// Picks the records of the contact sheet: the `size` records with the smallest hash of
// (seed, epoch, image, crop). The choice depends on nothing but the store and the seed, not on
// the order blocks arrive in, and it needs memory for `size` records only.
import { keyOf } from '../crop/rng.js';
import type { CropSpec } from '../crop/box.js';

/** One sampled record, with what the contact sheet shows about it. */
export interface SampledRecord {
  epoch: number;
  /** Dataset index of the image. */
  image: number;
  /** Path of the image relative to the dataset root. */
  path: string;
  crop: number;
  box: CropSpec;
  /** Folder class of the image. */
  folderClass: number;
  /** Up to three most probable stored classes and their probabilities, most probable first. */
  top: Array<{ classIndex: number; probability: number }>;
}

/** Where a record sorts: its hash, then epoch, image and crop, so ties are decided too. */
type Rank = readonly [key: number, epoch: number, image: number, crop: number];

/**
 * Keeps the `size` records with the smallest keys among all offered.
 *
 * @example
 * const sample = new RecordSample(24, 0);
 * sample.offer(epoch, image, crop, () => describe(record)); // describe runs only if kept
 */
export class RecordSample {
  private readonly kept: Array<{ rank: Rank; record: SampledRecord }> = [];

  constructor(
    readonly size: number,
    readonly seed: number,
  ) {}

  /** The hash that orders a record; smaller keys are kept. Ties go to the earlier epoch, image, crop. */
  keyOf(epoch: number, image: number, crop: number): number {
    return keyOf(this.seed, epoch, image, crop);
  }

  /** Offers a record; `describe` runs only when the record is kept for now. */
  offer(epoch: number, image: number, crop: number, describe: () => SampledRecord): void {
    if (this.size === 0) return;
    const rank: Rank = [this.keyOf(epoch, image, crop), epoch, image, crop];
    const worst = this.kept[this.kept.length - 1];
    if (this.kept.length === this.size && worst && !before(rank, worst.rank)) return;
    let at = this.kept.length;
    while (at > 0 && before(rank, this.kept[at - 1]!.rank)) at--;
    this.kept.splice(at, 0, { rank, record: describe() });
    if (this.kept.length > this.size) this.kept.pop();
  }

  /** The kept records, in key order. */
  records(): SampledRecord[] {
    return this.kept.map((entry) => entry.record);
  }
}

function before(a: Rank, b: Rank): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
