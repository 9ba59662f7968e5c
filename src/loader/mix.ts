import { mixRows } from '../labels/mix.js';
import type { Slot } from './assemble.js';
import { drawMix, type MixDrawSettings } from './mix-draw.js';
import { blendCrop, byteLambda, pasteBox, type CropArray } from './mix-pixels.js';

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
 * the slot's own memory, every sample lending its unmixed crop. Each mixed sample reads one
 * partner, so "i reads j" is a functional graph: samples nobody reads are mixed first, then
 * those whose readers are all done (Kahn's order), and a sample is copied aside only to break
 * a cycle (one copy per cycle, a handful per batch, into one buffer for the pass). Targets are
 * mixed from the slot's explicit rows into the slot's mix columns; unmixed samples are copied
 * there too, so every row of a batch has one width.
 */
export class MixStage {
  /** Per sample: mixed samples still to read it; where its copy is (−1: none); done. */
  private readonly readers: Int32Array;
  private readonly savedAt: Int32Array;
  private readonly done: Uint8Array;
  private readonly queue: Int32Array;

  /**
   * `saved` holds a batch of crops (the ring's `mixScratch`: in the ring's own memory, so the
   * Mixup kernel reads the copies too); only the pages of the few cycle copies are touched.
   */
  constructor(
    private readonly settings: MixDrawSettings,
    private readonly crops: Omit<CropArray, 'images'>,
    batchSize: number,
    private readonly dtype: 'float32' | 'uint8',
    private readonly topK: number,
    private readonly numClasses: number,
    private readonly saved: Float32Array | Uint8Array,
  ) {
    this.readers = new Int32Array(batchSize);
    this.savedAt = new Int32Array(batchSize);
    this.done = new Uint8Array(batchSize);
    this.queue = new Int32Array(batchSize);
  }

  /** Mixes the first `count` samples of `slot`, batch `key.batch` of (epoch, rank). */
  apply(slot: Slot, count: number, key: { epoch: number; rank: number; batch: number }): void {
    const mix = slot.mix!;
    const per = 3 * this.crops.side * this.crops.side;
    this.readers.fill(0, 0, count);
    this.savedAt.fill(-1, 0, count);
    this.done.fill(0, 0, count);
    for (let i = 0; i < count; i++) {
      const draw = drawMix(this.settings, key, i, count, this.crops.side);
      mix.kind[i] = draw === null ? 0 : draw.kind === 'mixup' ? 1 : 2;
      mix.partner[i] = draw?.partner ?? i;
      // uint8 Mixup blends in integers, on λ's 1/256 grid; pixels and targets use the same λ.
      mix.lambda[i] = draw === null ? 1 : draw.kind === 'mixup' && this.dtype === 'uint8' ? byteLambda(draw.lambda) : draw.lambda;
      if (draw?.box) mix.box.set([draw.box.top, draw.box.left, draw.box.height, draw.box.width], i * 4);
      if (draw) this.readers[draw.partner]!++;
      mixRows(slot.classes, slot.probs, this.topK, this.numClasses, i, mix.partner[i]!, mix.lambda[i]!, mix, i);
    }
    let head = 0;
    let tail = 0;
    for (let i = 0; i < count; i++) if (this.readers[i] === 0) this.queue[tail++] = i;
    let copies = 0;
    for (let next = 0; head < tail || next < count; ) {
      if (head === tail) {
        // Only cycles are left: copy one member aside, and it can go.
        while (this.done[next] === 1) next++;
        if (next >= count) break;
        this.saved.set(slot.images.subarray(next * per, (next + 1) * per), copies * per);
        this.savedAt[next] = copies++;
        this.queue[tail++] = next;
        this.readers[next] = 0;
      }
      const i = this.queue[head++]!;
      this.done[i] = 1;
      if (mix.kind[i] === 0) continue;
      this.mixPixels(slot, mix, i);
      const partner = mix.partner[i]!;
      if (--this.readers[partner]! === 0 && this.done[partner] === 0 && this.savedAt[partner] === -1) this.queue[tail++] = partner;
    }
  }

  /** Mixes sample `i`'s pixels, reading its partner from the copy when it has one (it is mixed already). */
  private mixPixels(slot: Slot, mix: NonNullable<Slot['mix']>, i: number): void {
    const batch: CropArray = { ...this.crops, images: slot.images };
    const partner = mix.partner[i]!;
    const copy = this.savedAt[partner]!;
    const source = copy >= 0 ? this.saved : slot.images;
    const from = copy >= 0 ? copy : partner;
    if (mix.kind[i] === 2) pasteBox(batch, source, i, from, { top: mix.box[i * 4]!, left: mix.box[i * 4 + 1]!, height: mix.box[i * 4 + 2]!, width: mix.box[i * 4 + 3]! });
    else blendCrop(batch, source, i, from, mix.lambda[i]!);
  }
}
