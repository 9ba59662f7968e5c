import { CounterRandom, keyOf } from '../../src/crop/rng.js';

/** A reproducible stream of uniforms in [0, 1) for test data, from fkd's own counter-based RNG. */
export function seededRandom(seed: number): () => number {
  const random = new CounterRandom(keyOf(seed));
  return () => random.next();
}
