import type { Tensor1D, Tensor2D, Tensor4D, data } from '@tensorflow/tfjs';
import { FkdError } from '../errors.js';
import type { Batch } from '../loader/batch.js';
import type { Tf } from '../tf/types.js';

/** Channels per pixel: the loader always renders RGB. */
const CHANNELS = 3;

/** One batch as tensors a student can train on. */
export interface BatchTensors {
  /** `[size, imageSize, imageSize, 3]` float32 pixels, channels last. */
  xs: Tensor4D;
  /** `[size, numClasses]` float32 dense soft targets. */
  ys: Tensor2D;
  /** `[size]` int32 class index of each crop's folder, for top-1 accuracy. */
  hard: Tensor1D;
}

/** What {@link toTfDataset} yields: the tensors `model.fitDataset` expects. */
export type TrainingPair = { xs: Tensor4D; ys: Tensor2D };

export interface BatchToTensorsOptions {
  /**
   * Make the tensors independent of the batch's memory. The cpu backend keeps the arrays it
   * is given, and loader batches live in a ring that is reused (see the loader's lifetime
   * rule), so tensors that outlive the batch must not share its buffers; other backends copy
   * on upload anyway. Default false.
   */
  detach?: boolean;
}

/**
 * Turns a loader batch into tensors: NHWC float32 pixels, dense soft targets from
 * `batch.targets.dense()`, and hard labels from each sample's folder class.
 *
 * - NCHW batches (the PyTorch convention) are transposed to NHWC, which TF.js convolutions need.
 * - float32 pixels are used as they are (already normalised by the store's mean/std).
 * - uint8 pixels are normalised on the device, (x / 255 − mean) / std with the
 *   `batch.normalization` the loader attaches, so a uint8 run feeds the student the same
 *   values as a float32 run (to float32 rounding). A uint8 batch without `normalization` is
 *   only scaled to [0, 1].
 *
 * The caller owns the returned tensors and must dispose them. On the cpu backend `xs` and
 * `ys` may share memory with the batch unless `detach` is set, so dispose them within the
 * batch's lifetime.
 *
 * @example
 * const { xs, ys, hard } = batchToTensors(tf, batch);
 * try { ... } finally { tf.dispose([xs, ys, hard]); }
 */
export function batchToTensors(tf: Tf, batch: Batch, options: BatchToTensorsOptions = {}): BatchTensors {
  const { size, imageSize, layout, images, targets } = batch;
  if (!Number.isInteger(size) || size <= 0) {
    throw new FkdError('E_USAGE', `Expected positive integer for batch size but received ${String(size)}`);
  }
  const pixels = size * imageSize * imageSize * CHANNELS;
  if (images.length !== pixels) {
    throw new FkdError(
      'E_USAGE',
      `Expected ${pixels} pixel values for ${size} RGB crops of ${imageSize} px but received ${images.length}`,
    );
  }
  const dense = targets.dense();
  if (dense.length !== size * targets.numClasses) {
    throw new FkdError(
      'E_USAGE',
      `Expected ${size * targets.numClasses} dense target values but received ${dense.length}`,
    );
  }
  const classIndex = batch.samples?.classIndex ?? batch.meta.map((sample) => sample.classIndex);
  if (classIndex.length !== size) {
    throw new FkdError('E_USAGE', `Expected ${size} sample records but received ${classIndex.length}`);
  }
  const hardLabels = Int32Array.from(classIndex);
  const aliased = options.detach === true && tf.getBackend() === 'cpu';

  const shape: [number, number, number, number] = layout === 'nchw' ? [size, CHANNELS, imageSize, imageSize] : [size, imageSize, imageSize, CHANNELS];
  const xs = tf.tidy(() => {
    let values: Tensor4D;
    if (images instanceof Uint8Array) {
      // int32 because TF.js has no uint8 dtype; the conversion copies, so nothing is aliased.
      values = tf.tensor4d(images, shape, 'int32');
    } else {
      values = tf.tensor4d(aliased ? images.slice() : images, shape, 'float32');
    }
    const nhwc = layout === 'nchw' ? tf.transpose(values, [0, 2, 3, 1]) : values;
    if (!(images instanceof Uint8Array)) return nhwc;
    const norm = batch.normalization;
    if (!norm) return tf.div<Tensor4D>(tf.cast(nhwc, 'float32'), 255);
    // The loader's float32 path computes x × 1/(255·std) − mean/std per channel; so does this.
    const scale = tf.tensor1d(norm.std.map((std) => 1 / (255 * std)));
    const shift = tf.tensor1d(norm.mean.map((mean, c) => mean / norm.std[c]!));
    return tf.sub<Tensor4D>(tf.mul(tf.cast(nhwc, 'float32'), scale), shift);
  });
  const ys = tf.tensor2d(aliased ? dense.slice() : dense, [size, targets.numClasses], 'float32');
  const hard = tf.tensor1d(hardLabels, 'int32');
  return { xs, ys, hard };
}

/**
 * Wraps a batch source as a `tf.data.Dataset` of `{ xs, ys }`, e.g. for `model.fitDataset`.
 *
 * Like tfjs-data's datasets this is a recipe, not a stream: `batches` is called once every
 * time the dataset is iterated (each `fitDataset` epoch, each `forEachAsync`), and must
 * return a fresh iterable each time. Tensors are created lazily, one batch at a time, and
 * whoever consumes an element owns (and disposes) its tensors; `fitDataset` does that itself.
 * The tensors never share memory with the loader's batch ring, so tf.data may hold elements
 * (`prefetch`, `shuffle`, `batch`) for as long as it likes.
 *
 * @example
 * const dataset = toTfDataset(tf, () => createLoader({ data, labels, epoch: 0, batchSize: 64, size: 32, layout: 'nhwc' }));
 * await dataset.forEachAsync(({ xs, ys }) => { ...; tf.dispose([xs, ys]); });
 */
export function toTfDataset(tf: Tf, batches: () => AsyncIterable<Batch>): data.Dataset<TrainingPair> {
  return tf.data.generator<TrainingPair>(async function* () {
    for await (const batch of batches()) {
      const { xs, ys, hard } = batchToTensors(tf, batch, { detach: true });
      hard.dispose();
      yield { xs, ys };
    }
  });
}
