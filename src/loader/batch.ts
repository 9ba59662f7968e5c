import type { CropSpec } from '../crop/box.js';
import type { Layout, Normalization } from '../crop/tensor.js';

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
  /**
   * The teacher's stored probability of the folder class (0 when it is outside the top-k),
   * before any temperature; present when the loader's targets are calibrated.
   */
  teacherConfidence?: number;
  /** Present when the mix stage mixed this sample. */
  mix?: MixMeta;
}

/** What Mixup or CutMix did to one sample. */
export interface MixMeta {
  /** Index, in the same batch, of the sample mixed in. */
  partner: number;
  /** Share of the sample's own pixels, and of its own target. */
  lambda: number;
  /** CutMix only: the partner's region pasted in, in output pixels. */
  box?: { top: number; left: number; height: number; width: number };
}

/** Per-sample provenance as typed columns, `size` entries each: what `meta` is built from, without objects. */
export interface BatchSamples {
  imageIndex: Uint32Array;
  classIndex: Uint32Array;
  crop: Uint32Array;
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
  /** One record per sample; built on first access. */
  meta: SampleMeta[];
  /** The same provenance as typed columns, when the source has them (the loader always does). */
  samples?: BatchSamples;
  /** The mean/std the store's teacher used, which uint8 pixels still need (loader batches carry it). */
  normalization?: Normalization;
  /**
   * A copy that owns all its memory and stays valid forever. Loader batches live in a ring
   * of reused buffers (see the loader's lifetime rule); clone the ones you keep longer.
   */
  clone(): Batch;
}

/**
 * Deep-copies a batch into fresh memory: pixels, top-k targets, the dense target as it is now,
 * provenance. Used by `batch.clone()` and the loader's `copy: true`.
 *
 * @example
 * const kept = cloneBatch(batch);
 */
export function cloneBatch(batch: Batch): Batch {
  const dense = batch.targets.dense().slice();
  const classes = batch.targets.classes.slice();
  const probs = batch.targets.probs.slice();
  const meta = batch.meta.map((m) => ({ ...m, box: { ...m.box }, ...(m.mix ? { mix: { ...m.mix, ...(m.mix.box ? { box: { ...m.mix.box } } : {}) } } : {}) }));
  const copy: Batch = {
    size: batch.size,
    imageSize: batch.imageSize,
    layout: batch.layout,
    images: batch.images.slice(),
    targets: { numClasses: batch.targets.numClasses, topK: batch.targets.topK, classes, probs, dense: () => dense },
    meta,
    clone() {
      return cloneBatch(this);
    },
  };
  if (batch.samples) copy.samples = { imageIndex: batch.samples.imageIndex.slice(), classIndex: batch.samples.classIndex.slice(), crop: batch.samples.crop.slice() };
  if (batch.normalization) copy.normalization = { mean: [...batch.normalization.mean], std: [...batch.normalization.std] };
  return copy;
}
