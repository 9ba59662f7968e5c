import type { CropSpec } from '../crop/box.js';
import type { EpochRecords } from '../store/format/columns.js';
import type { LabelSink } from './teacher-batcher.js';

/**
 * The record columns of one shard under construction: for every label epoch, the boxes, flips,
 * top-k classes and probability codes of each record slot. Record `r` of an epoch belongs to
 * the `floor(r / crops)`-th image that has records, crop `r % crops`, so the slots are known
 * before the teacher has labelled them. `finish` trims the columns to the images that had
 * records, in the shape `encodeShard` takes.
 *
 * @example
 * const columns = new EpochColumns({ epochs: 2, crops: 4, topK: 5, images: 1000 });
 * columns.setBox(0, slot, spec);
 * columns.setLabels(columns.cell(0, slot), classes, codes, row * 5);
 * const records = columns.finish(labelledImages);
 */
export class EpochColumns implements LabelSink {
  private readonly records: EpochRecords[];
  private readonly topK: number;
  private readonly capacity: number;

  constructor(shape: { epochs: number; crops: number; topK: number; images: number }) {
    const { epochs, crops, topK, images } = shape;
    const capacity = images * crops;
    this.topK = topK;
    this.capacity = capacity;
    this.records = Array.from({ length: epochs }, (_, epoch) => ({
      epoch,
      crops,
      topK,
      count: 0,
      top: new Uint16Array(capacity),
      left: new Uint16Array(capacity),
      height: new Uint16Array(capacity),
      width: new Uint16Array(capacity),
      flip: new Uint8Array(capacity),
      classes: new Uint32Array(capacity * topK),
      codes: new Uint16Array(capacity * topK),
    }));
  }

  /** Stores the sampled box and flip of record `slot` of `epoch`. */
  setBox(epoch: number, slot: number, spec: CropSpec): void {
    const target = this.records[epoch]!;
    target.top[slot] = spec.top;
    target.left[slot] = spec.left;
    target.height[slot] = spec.height;
    target.width[slot] = spec.width;
    target.flip[slot] = spec.flip ? 1 : 0;
  }

  /** One number naming record `slot` of `epoch`: the tag a label is sent back with. */
  cell(epoch: number, slot: number): number {
    return epoch * this.capacity + slot;
  }

  /** Copies the top-k classes and codes at `offset` into the record `cell` names. */
  setLabels(cell: number, classes: Uint32Array, codes: Uint16Array, offset: number): void {
    const target = this.records[Math.floor(cell / this.capacity)]!;
    const slot = cell % this.capacity;
    const k = this.topK;
    for (let j = 0; j < k; j++) {
      target.classes[slot * k + j] = classes[offset + j]!;
      target.codes[slot * k + j] = codes[offset + j]!;
    }
  }

  /** The columns of the first `images` labelled images, as views (no copy). */
  finish(images: number): EpochRecords[] {
    const k = this.topK;
    return this.records.map((epoch) => {
      const count = images * epoch.crops;
      return {
        ...epoch,
        count,
        top: epoch.top.subarray(0, count),
        left: epoch.left.subarray(0, count),
        height: epoch.height.subarray(0, count),
        width: epoch.width.subarray(0, count),
        flip: epoch.flip.subarray(0, count),
        classes: epoch.classes.subarray(0, count * k),
        codes: epoch.codes.subarray(0, count * k),
      };
    });
  }
}
