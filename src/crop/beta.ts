import type { CounterRandom } from './rng.js';

/**
 * A standard normal from two uniforms (Box–Muller). `1 − u` keeps the logarithm finite,
 * since `next()` can return 0 but never 1.
 */
function normal(random: CounterRandom): number {
  const radius = Math.sqrt(-2 * Math.log(1 - random.next()));
  return radius * Math.cos(2 * Math.PI * random.next());
}

/**
 * Gamma(shape, 1) by Marsaglia and Tsang's squeeze (2000); shapes below 1 use the boost
 * Gamma(a) = Gamma(a + 1) · U^(1/a), which is what numpy does too.
 */
function gamma(random: CounterRandom, shape: number): number {
  if (shape < 1) return gamma(random, shape + 1) * (1 - random.next()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(random);
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = 1 - random.next();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * A draw of Beta(alpha, alpha) from a counter stream, as X / (X + Y) with X, Y ~ Gamma(alpha).
 * Rejection takes a variable number of draws, which is why every mixed sample has a stream
 * of its own: one sample's retries cannot shift another's numbers.
 *
 * @example
 * const lambda = symmetricBeta(new CounterRandom(keyOf(seed, epoch, batch, i)), 1); // uniform in (0, 1)
 */
export function symmetricBeta(random: CounterRandom, alpha: number): number {
  const x = gamma(random, alpha);
  const y = gamma(random, alpha);
  // Both underflow to 0 only for tiny alpha, where Beta(α, α) puts its mass at 0 and 1.
  if (x + y === 0) return random.next() < 0.5 ? 0 : 1;
  return x / (x + y);
}
