import type { CropSpec } from './box.js';
import { cropRandom, Stream, type CounterRandom } from './rng.js';

export interface SamplerOptions {
  /** Range of the crop's area as a fraction of the image area. torchvision default (0.08, 1). */
  scale: readonly [number, number];
  /** Range of the crop's width/height ratio, drawn log-uniformly. Default (3/4, 4/3). */
  ratio: readonly [number, number];
  /** Probability of a horizontal flip. */
  flip: number;
  seed: number;
}

export const defaultSamplerOptions: SamplerOptions = {
  scale: [0.08, 1],
  ratio: [3 / 4, 4 / 3],
  flip: 0.5,
  seed: 0,
};

const TRIES = 10;

/**
 * torchvision RandomResizedCrop.get_params semantics: up to 10 tries of a random area and
 * log-uniform aspect ratio, then a centre crop clamped to the ratio range.
 */
export function sampleBox(width: number, height: number, options: SamplerOptions, random: CounterRandom): CropSpec {
  const area = width * height;
  const logLow = Math.log(options.ratio[0]);
  const logHigh = Math.log(options.ratio[1]);
  for (let attempt = 0; attempt < TRIES; attempt++) {
    const targetArea = area * random.uniform(options.scale[0], options.scale[1]);
    const aspect = Math.exp(random.uniform(logLow, logHigh));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = random.below(height - h + 1);
      const left = random.below(width - w + 1);
      return { top, left, height: h, width: w, flip: false };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...options.ratio)) {
    h = Math.round(w / Math.min(...options.ratio));
  } else if (inRatio > Math.max(...options.ratio)) {
    w = Math.round(h * Math.max(...options.ratio));
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w, flip: false };
}

/**
 * The crop stored for (image, epoch, crop): its box and flip depend only on the seed, the
 * counters and the image size.
 *
 * @example
 * const spec = sampleCrop(500, 375, { ...defaultSamplerOptions, seed: 7 }, 12, 0, 3);
 */
export function sampleCrop(width: number, height: number, options: SamplerOptions, image: number, epoch: number, crop: number): CropSpec {
  const box = sampleBox(width, height, options, cropRandom(options.seed, image, epoch, crop, Stream.Box));
  box.flip = cropRandom(options.seed, image, epoch, crop, Stream.Flip).next() < options.flip;
  return box;
}
