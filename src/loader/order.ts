import { CounterRandom, keyOf } from '../crop/rng.js';

/** Mixed into the shuffle key so shuffle draws never coincide with crop draws. */
const SHUFFLE_STREAM = 0x5f1e;

/**
 * The images one rank visits in a student epoch: a seeded permutation of `images` (or the
 * given order when `seed` is null), then every `worldSize`-th entry starting at `rank`.
 * Ranks never overlap and together cover every image exactly once; their lengths differ by
 * at most one (use `dropLast` in the loader for equal step counts across ranks).
 *
 * @example
 * epochOrder([0, 1, 2, 3, 4], { seed: 0, epoch: 3, rank: 1, worldSize: 2 });
 */
export function epochOrder(images: ArrayLike<number>, options: { seed: number | null; epoch: number; rank: number; worldSize: number }): Uint32Array {
  const order = Uint32Array.from(images);
  if (options.seed !== null) {
    const random = new CounterRandom(keyOf(options.seed, options.epoch, SHUFFLE_STREAM));
    for (let i = order.length - 1; i > 0; i--) {
      const j = random.below(i + 1);
      const swap = order[i]!;
      order[i] = order[j]!;
      order[j] = swap;
    }
  }
  if (options.worldSize === 1) return order;
  const mine = new Uint32Array(Math.max(0, Math.ceil((order.length - options.rank) / options.worldSize)));
  for (let position = options.rank, at = 0; position < order.length; position += options.worldSize) mine[at++] = order[position]!;
  return mine;
}
