import { CounterRandom, keyOf } from '../crop/rng.js';
import type { Batch } from './batch.js';

/** Mixed into the key so transform draws never coincide with shuffle or crop draws. */
const TRANSFORM_STREAM = 0x7a2f;

/** What a transform knows about the batch it is given. */
export interface TransformContext {
  /** Student epoch. */
  epoch: number;
  /** Position of the batch in this rank's epoch, from 0. */
  batch: number;
  rank: number;
  /**
   * Counter-based random numbers keyed by (seed, epoch, rank, batch): the same draws on every
   * run, at any thread count or prefetch depth, and independent of every other batch's. Each
   * transform in the list gets its own stream.
   */
  random: CounterRandom;
}

/**
 * A batch-level step between assembly and the consumer (Mixup and CutMix are built on it).
 * It may change the batch in place (its pixel and target arrays are the loader's, and valid
 * for the batch's lifetime) or return a new batch; returning nothing keeps the given one.
 * It must be deterministic given its context, so that replay stays exact.
 *
 * @example
 * const invert: BatchTransform = (batch) => { if (batch.images instanceof Uint8Array) for (let i = 0; i < batch.images.length; i++) batch.images[i] = 255 - batch.images[i]!; };
 */
// `void` so that a transform changing the batch in place can be written without a return.
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type
export type BatchTransform = (batch: Batch, context: TransformContext) => Batch | void | Promise<Batch | void>;

/**
 * Runs `transforms` in order on one batch. The seed is the loader's shuffle seed (0 when
 * shuffling is off), so a fixed seed fixes both the order and every transform draw.
 *
 * @example
 * const out = await applyTransforms(batch, [mixup], { seed: 0, epoch: 3, rank: 0, batch: 12 });
 */
export async function applyTransforms(batch: Batch, transforms: readonly BatchTransform[], key: { seed: number; epoch: number; rank: number; batch: number }): Promise<Batch> {
  let current = batch;
  for (const [index, transform] of transforms.entries()) {
    const result = await transform(current, { epoch: key.epoch, batch: key.batch, rank: key.rank, random: transformRandom(key, index) });
    if (result) current = result;
  }
  return current;
}

/**
 * The random stream `applyTransforms` gives transform `index` of a batch, so tests and tools
 * can reproduce a transform's draws.
 */
export function transformRandom(key: { seed: number; epoch: number; rank: number; batch: number }, index = 0): CounterRandom {
  return new CounterRandom(keyOf(key.seed, key.epoch, key.rank, key.batch, TRANSFORM_STREAM, index));
}
