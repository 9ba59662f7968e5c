import type { CropSpec } from '../crop/box.js';
import type { Layout } from '../crop/tensor.js';

/** Where one sample in a batch came from, so every crop can be traced back to its record. */
export interface SampleMeta {
  /** Path of the image relative to the dataset root, with `/` separators. */
  path: string;
  /** Index of the image in the store (sorted dataset order). */
  imageIndex: number;
  /** Class index from the image's folder. */
  classIndex: number;
  /** Label epoch the record came from. */
  labelEpoch: number;
  /** Index of the crop within that image's label epoch. */
  crop: number;
  box: CropSpec;
}

/** Stored soft labels of a batch in compact top-k form, with the dense target on request. */
export interface BatchTargets {
  numClasses: number;
  topK: number;
  /** `size × topK` class indices, row-major, most probable first. */
  classes: Uint32Array;
  /** `size × topK` probabilities matching `classes`. */
  probs: Float32Array;
  /** `size × numClasses` dense targets rebuilt by the store's codec (and optional temperature). */
  dense(): Float32Array;
}

/** A batch of crops ready for a student: pixels, stored labels and provenance. */
export interface Batch {
  /** Number of crops in the batch. */
  size: number;
  /** Side of every crop in pixels. */
  imageSize: number;
  layout: Layout;
  /** float32 normalised with the store's mean/std, or raw uint8 pixels. */
  images: Float32Array | Uint8Array;
  targets: BatchTargets;
  meta: SampleMeta[];
}
