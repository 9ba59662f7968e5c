import { mixRows } from '../labels/mix.js';
import type { Slot } from './assemble.js';
import { drawMix, type MixDrawSettings } from './mix-draw.js';
import { blendCrop, pasteBox, type CropArray } from './mix-pixels.js';

export type { MixMode } from './mix-draw.js';

/** The loader's `mix` option. */
export interface MixOptions {
  mode: MixDrawSettings['mode'];
  /** λ ~ Beta(alpha, alpha). Default 1 (λ uniform). */
  alpha?: number;
  /** Probability that a sample is mixed. Default 1. */
  prob?: number;
  /** Seed of the draws. Default: the loader's shuffle seed (0 when shuffling is off). */
  seed?: number;
}

/** The width of a mixed target row: the union of two top-k rows, when there are that many classes. */
export function mixWidth(topK: number, numClasses: number): number {
  return Math.min(2 * topK, numClasses);
}

/**
 * The mix stage of one loader pass: Mixup and CutMix between the samples of each batch, in
 * the slot's own memory. Partners are read from an unmixed copy of the batch's pixels taken
 * first (one buffer for the pass, reused for every batch), so a sample that is itself mixed
 * still lends its original pixels. Targets are mixed from the slot's explicit rows into the
 * slot's mix columns; unmixed samples are copied there too, so every row of a batch has one
 * width.
 */
export class MixStage {
  private readonly snapshot: Float32Array | Uint8Array;

  constructor(
    private readonly settings: MixDrawSettings,
    private readonly crops: Omit<CropArray, 'images'>,
    batchSize: number,
    dtype: 'float32' | 'uint8',
    private readonly topK: number,
    private readonly numClasses: number,
  ) {
    const values = batchSize * 3 * crops.side * crops.side;
    this.snapshot = dtype === 'float32' ? new Float32Array(values) : new Uint8Array(values);
  }

  /** Mixes the first `count` samples of `slot`, batch `key.batch` of (epoch, rank). */
  apply(slot: Slot, count: number, key: { epoch: number; rank: number; batch: number }): void {
    const mix = slot.mix!;
    const batch: CropArray = { ...this.crops, images: slot.images };
    const per = 3 * this.crops.side * this.crops.side;
    this.snapshot.set(count * per === slot.images.length ? slot.images : slot.images.subarray(0, count * per));
    for (let i = 0; i < count; i++) {
      const draw = drawMix(this.settings, key, i, count, this.crops.side);
      mix.kind[i] = draw === null ? 0 : draw.kind === 'mixup' ? 1 : 2;
      mix.partner[i] = draw?.partner ?? i;
      mix.lambda[i] = draw?.lambda ?? 1;
      if (draw?.box) {
        mix.box.set([draw.box.top, draw.box.left, draw.box.height, draw.box.width], i * 4);
        pasteBox(batch, this.snapshot, i, draw.partner, draw.box);
      } else if (draw) {
        blendCrop(batch, this.snapshot, i, draw.partner, draw.lambda);
      }
      mixRows(slot.classes, slot.probs, this.topK, this.numClasses, i, mix.partner[i]!, mix.lambda[i]!, mix, i);
    }
  }
}
