import type { Scalar, Tensor2D } from '@tensorflow/tfjs';
import { FkdError } from '../errors.js';
import type { Tf } from '../tf/types.js';

/**
 * FKD's soft cross-entropy: the mean over rows of −Σ_c p_c · log_softmax(z)_c, where `p`
 * is the stored teacher distribution and `z` the student's raw logits. With one-hot
 * targets it equals the ordinary cross-entropy.
 *
 * log_softmax is taken on the logits directly (never log of a softmax), so large logits
 * stay finite. Targets are used as given: rows that do not sum to 1 are not renormalised.
 *
 * @example
 * const loss = softCrossEntropy(tf, tf.tensor2d([[2, 0]]), tf.tensor2d([[0.9, 0.1]]));
 * loss.dataSync()[0]; // ≈ 0.327
 */
export function softCrossEntropy(tf: Tf, logits: Tensor2D, targets: Tensor2D): Scalar {
  if (logits.rank !== 2 || targets.rank !== 2 || logits.shape[0] !== targets.shape[0] || logits.shape[1] !== targets.shape[1]) {
    throw new FkdError(
      'E_MODEL_SHAPE',
      `Expected logits and targets of the same [batch, classes] shape but received [${logits.shape.join(', ')}] and [${targets.shape.join(', ')}]`,
    );
  }
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as Scalar);
}
