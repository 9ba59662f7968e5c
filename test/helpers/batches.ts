import { cloneBatch, type Batch, type SampleMeta } from '../../src/loader/batch.js';
import type { Layout } from '../../src/crop/tensor.js';
import { seededRandom } from './random.js';

export interface SyntheticBatchOptions {
  size: number;
  imageSize: number;
  /** Default 4. */
  numClasses?: number;
  /** Default 'nhwc'. */
  layout?: Layout;
  /** float32 pixels in [-1, 1] (as if normalised), or raw uint8. Default 'float32'. */
  dtype?: 'float32' | 'uint8';
  /** Teacher probability of the true class; the rest is spread evenly. Default 0.9. */
  peak?: number;
  /** Amplitude of uniform per-pixel noise, in float units. Default 0.3. */
  noise?: number;
  /** Seeds classes and noise. Default 1. */
  seed?: number;
}

/**
 * A batch whose class is written in its colour: each class has a fixed RGB colour and
 * every pixel is that colour plus noise, so a small CNN can learn it in a few steps.
 * Targets are stored top-1 with marginal smoothing, peaked on the folder class.
 */
export function syntheticBatch(options: SyntheticBatchOptions): Batch {
  const { size, imageSize } = options;
  const numClasses = options.numClasses ?? 4;
  const layout = options.layout ?? 'nhwc';
  const dtype = options.dtype ?? 'float32';
  const peak = options.peak ?? 0.9;
  const noise = options.noise ?? 0.3;
  const random = seededRandom(options.seed ?? 1);

  const plane = imageSize * imageSize;
  const values = new Float32Array(size * plane * 3);
  const meta: SampleMeta[] = [];
  const classes = new Uint32Array(size);
  for (let sample = 0; sample < size; sample += 1) {
    const classIndex = Math.floor(random() * numClasses);
    classes[sample] = classIndex;
    const colour = classColour(classIndex, numClasses);
    for (let pixel = 0; pixel < plane; pixel += 1) {
      for (let channel = 0; channel < 3; channel += 1) {
        const value = Math.max(-1, Math.min(1, colour[channel]! + (random() * 2 - 1) * noise));
        const offset =
          layout === 'nhwc' ? (sample * plane + pixel) * 3 + channel : (sample * 3 + channel) * plane + pixel;
        values[offset] = value;
      }
    }
    meta.push({
      path: `class${classIndex}/image${sample}.png`,
      imageIndex: sample,
      classIndex,
      labelEpoch: 0,
      crop: 0,
      box: { top: 0, left: 0, height: imageSize, width: imageSize, flip: false },
    });
  }

  const images = dtype === 'float32' ? values : Uint8Array.from(values, (value) => Math.round((value + 1) * 127.5));
  const probs = new Float32Array(size).fill(peak);
  return {
    size,
    imageSize,
    layout,
    images,
    meta,
    targets: {
      numClasses,
      topK: 1,
      classes,
      probs,
      dense: () => denseTargets(classes, peak, numClasses),
    },
    clone() {
      return cloneBatch(this);
    },
  };
}

/** `count` synthetic batches with different seeds, as a loader epoch would yield them. */
export async function* syntheticBatches(count: number, options: SyntheticBatchOptions): AsyncGenerator<Batch> {
  const seed = options.seed ?? 1;
  for (let index = 0; index < count; index += 1) {
    yield syntheticBatch({ ...options, seed: seed * 7919 + index });
  }
}

function denseTargets(classes: Uint32Array, peak: number, numClasses: number): Float32Array {
  const rest = numClasses > 1 ? (1 - peak) / (numClasses - 1) : 0;
  const dense = new Float32Array(classes.length * numClasses).fill(rest);
  classes.forEach((classIndex, row) => {
    dense[row * numClasses + classIndex] = peak;
  });
  return dense;
}

/** Distinct colours in [-0.8, 0.8]: the class index read as base-3 digits over R, G, B. */
function classColour(classIndex: number, numClasses: number): [number, number, number] {
  const code = numClasses <= 26 ? classIndex + 1 : classIndex;
  return [0, 1, 2].map((digit) => ((Math.floor(code / 3 ** digit) % 3) - 1) * 0.8) as [number, number, number];
}


/** Every batch of one loader pass (pass `copy: true` to keep them past the ring's lifetime rule). */
export async function collectBatches(loader: AsyncIterable<Batch>): Promise<Batch[]> {
  const batches: Batch[] = [];
  for await (const batch of loader) batches.push(batch);
  return batches;
}
