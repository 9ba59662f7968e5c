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

/**
 * Turns a loader batch into tensors: NHWC float32 pixels, dense soft targets from
 * `batch.targets.dense()`, and hard labels from each sample's folder class.
 *
 * - NCHW batches (the PyTorch convention) are transposed to NHWC, which TF.js convolutions need.
 * - float32 pixels are used as they are (already normalised by the store's mean/std).
 * - uint8 pixels are only scaled to [0, 1] by /255, NOT normalised with a mean/std: the
 *   loader hands out raw bytes when it was asked to, and the trainer cannot know which
 *   statistics the teacher used. Do not mix uint8 and float32 batches in one run or
 *   checkpoint, because the student would see two different input distributions.
 *
 * The caller owns the returned tensors and must dispose them. On the cpu backend `xs` may
 * share memory with `batch.images`, so do not reuse that buffer until `xs` is disposed.
 *
 * @example
 * const { xs, ys, hard } = batchToTensors(tf, batch);
 * try { ... } finally { tf.dispose([xs, ys, hard]); }
 */
export function batchToTensors(tf: Tf, batch: Batch): BatchTensors {
  const { size, imageSize, layout, images, targets, meta } = batch;
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
  if (meta.length !== size) {
    throw new FkdError('E_USAGE', `Expected ${size} sample records but received ${meta.length}`);
  }
  const hardLabels = new Int32Array(size);
  meta.forEach((sample, index) => {
    hardLabels[index] = sample.classIndex;
  });

  const values = images instanceof Uint8Array ? scaleBytes(images) : images;
  const xs = tf.tidy(() => {
    if (layout === 'nchw') {
      return tf.transpose(tf.tensor4d(values, [size, CHANNELS, imageSize, imageSize], 'float32'), [0, 2, 3, 1]);
    }
    return tf.tensor4d(values, [size, imageSize, imageSize, CHANNELS], 'float32');
  });
  const ys = tf.tensor2d(dense, [size, targets.numClasses], 'float32');
  const hard = tf.tensor1d(hardLabels, 'int32');
  return { xs, ys, hard };
}

function scaleBytes(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let index = 0; index < bytes.length; index += 1) {
    out[index] = (bytes[index] as number) / 255;
  }
  return out;
}

/**
 * Wraps a batch source as a `tf.data.Dataset` of `{ xs, ys }`, e.g. for `model.fitDataset`.
 *
 * Like tfjs-data's datasets this is a recipe, not a stream: `batches` is called once every
 * time the dataset is iterated (each `fitDataset` epoch, each `forEachAsync`), and must
 * return a fresh iterable each time. Tensors are created lazily, one batch at a time, and
 * whoever consumes an element owns (and disposes) its tensors; `fitDataset` does that itself.
 *
 * @example
 * const dataset = toTfDataset(tf, () => createLoader({ data, labels, epoch: 0, batchSize: 64, size: 32, layout: 'nhwc' }));
 * await dataset.forEachAsync(({ xs, ys }) => { ...; tf.dispose([xs, ys]); });
 */
export function toTfDataset(tf: Tf, batches: () => AsyncIterable<Batch>): data.Dataset<TrainingPair> {
  return tf.data.generator<TrainingPair>(async function* () {
    for await (const batch of batches()) {
      const { xs, ys, hard } = batchToTensors(tf, batch);
      hard.dispose();
      yield { xs, ys };
    }
  });
}
