/**
 * Counter-based random numbers: every crop's draws are a pure function of
 * (seed, image, epoch, crop, draw), so any worker can regenerate any crop and neither
 * sharding nor the order work finishes in can change a single bit.
 *
 * The mixer is a 32-bit integer finaliser (the "lowbias32" constants) applied in a
 * chain over the counter words; 32-bit Math.imul keeps it fast and exact in JS.
 */
function mix(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

const GOLDEN = 0x9e3779b9;

function absorb(state: number, word: number): number {
  return mix((state + GOLDEN) ^ mix(word >>> 0));
}

/** Derives a 32-bit key from any number of non-negative integer counters. */
export function keyOf(...words: number[]): number {
  let state = 0x2545f491;
  for (const word of words) {
    // Split into two 32-bit halves so seeds and indices up to 2^53 stay distinct.
    state = absorb(absorb(state, word % 0x1_0000_0000), Math.floor(word / 0x1_0000_0000));
  }
  return state;
}

/** A reproducible stream of uniforms in [0, 1) with 53 bits each, addressed by draw number. */
export class CounterRandom {
  private draw = 0;

  constructor(private readonly key: number) {}

  /** The next uniform in [0, 1). */
  next(): number {
    const index = this.draw++;
    const high = absorb(absorb(this.key, index), 1) >>> 5; // 27 bits
    const low = absorb(absorb(this.key, index), 2) >>> 6; // 26 bits
    return (high * 0x4000000 + low) / 0x20000000000000;
  }

  /** A uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** An integer in [0, bound). */
  below(bound: number): number {
    return Math.min(bound - 1, Math.floor(this.next() * bound));
  }
}

/** Independent streams of one crop, so changing how one is used cannot shift another. */
export const Stream = { Box: 0, Flip: 1 } as const;
export type Stream = (typeof Stream)[keyof typeof Stream];

/** A random stream of one crop of one image in one label epoch. */
export function cropRandom(seed: number, image: number, epoch: number, crop: number, stream: Stream): CounterRandom {
  return new CounterRandom(keyOf(seed, image, epoch, crop, stream));
}
