import { symmetricBeta } from '../crop/beta.js';
import { CounterRandom, keyOf } from '../crop/rng.js';

/** Mixed into every key so mix draws never coincide with shuffle, crop or transform draws. */
const MIX_STREAM = 0x6d78;

export type MixMode = 'mixup' | 'cutmix' | 'both';

/** What the mix stage needs to decide, for one batch. */
export interface MixDrawSettings {
  mode: MixMode;
  alpha: number;
  /** Probability that a sample is mixed at all. */
  prob: number;
  seed: number;
}

/** A box in output pixels of a square crop. */
export interface PixelBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The decision for one sample: what it is mixed with and how much of it stays its own. */
export interface MixDraw {
  kind: 'mixup' | 'cutmix';
  partner: number;
  /** Share of the sample's own pixels; for CutMix, exactly 1 − (pasted area / crop area). */
  lambda: number;
  /** CutMix only: the partner's region pasted into the sample. */
  box?: PixelBox;
}

/**
 * Decides sample `index` of a batch of `size` crops of `side` pixels: whether it is mixed
 * (with `prob`), Mixup or CutMix (even odds under `both`, as timm's default switch
 * probability), a partner among the other samples of the batch, λ ~ Beta(α, α) and the
 * CutMix box. Every number comes from one counter stream keyed by (seed, epoch, rank,
 * batch, index), so any sample's decision can be replayed on its own. `null`: left as is.
 *
 * The CutMix box follows timm's `rand_bbox`: a box of side ⌊side·√(1 − λ)⌋ centred on a
 * uniform pixel and clipped to the crop; λ is then recomputed from the clipped area, so it
 * is the exact share of the sample's own pixels.
 *
 * @example
 * drawMix({ mode: 'cutmix', alpha: 1, prob: 1, seed: 0 }, { epoch: 0, rank: 0, batch: 3 }, 5, 64, 224);
 */
export function drawMix(settings: MixDrawSettings, key: { epoch: number; rank: number; batch: number }, index: number, size: number, side: number): MixDraw | null {
  if (size < 2) return null;
  const random = new CounterRandom(keyOf(settings.seed, key.epoch, key.rank, key.batch, MIX_STREAM, index));
  if (random.next() >= settings.prob) return null;
  const cutmix = settings.mode === 'cutmix' || (settings.mode === 'both' && random.next() < 0.5);
  const other = random.below(size - 1);
  const partner = other >= index ? other + 1 : other;
  const lambda = symmetricBeta(random, settings.alpha);
  if (!cutmix) return { kind: 'mixup', partner, lambda };
  const box = cutBox(random, lambda, side);
  return { kind: 'cutmix', partner, lambda: 1 - (box.height * box.width) / (side * side), box };
}

function cutBox(random: CounterRandom, lambda: number, side: number): PixelBox {
  const cut = Math.floor(side * Math.sqrt(1 - lambda));
  const centreY = random.below(side);
  const centreX = random.below(side);
  const clip = (value: number) => Math.min(side, Math.max(0, value));
  const top = clip(centreY - Math.floor(cut / 2));
  const left = clip(centreX - Math.floor(cut / 2));
  return { top, left, height: clip(centreY + Math.floor(cut / 2)) - top, width: clip(centreX + Math.floor(cut / 2)) - left };
}
