/** FerKD-style calibration: where the teacher doubts the folder class, train on it anyway. */
export interface Calibration {
  /** Below this teacher probability of the folder class, the target is the smoothed one-hot. */
  threshold: number;
  /** Label smoothing ε of that one-hot: 1 − ε + ε/C on the folder class, ε/C elsewhere. */
  smoothing: number;
}

/**
 * The stored probability of class `folder` in row `row` (`k` per row), or 0 when the class
 * is not in the row's top-k.
 *
 * @example
 * folderProbability(new Uint32Array([4, 2]), new Float32Array([0.7, 0.2]), 2, 0, 2); // 0.2
 */
export function folderProbability(classes: Uint32Array, probs: Float32Array, k: number, row: number, folder: number): number {
  for (let j = 0; j < k; j++) if (classes[row * k + j] === folder) return probs[row * k + j]!;
  return 0;
}

/**
 * Applies `calibration` to one explicit row in place (see explicit.ts) and returns the
 * teacher's probability of the folder class it was judged by. A confidence strictly below
 * the threshold makes the row the label-smoothed one-hot of `folder`: the folder class first
 * at 1 − ε + ε/C, then k − 1 of the other stored classes at ε/C, the rest left to the even
 * leftover, which is ε/C as well. At or above the threshold the soft label stays.
 *
 * @example
 * calibrateRow(classes, probs, 5, 1000, row, folder, { threshold: 0.3, smoothing: 0.1 });
 */
export function calibrateRow(classes: Uint32Array, probs: Float32Array, k: number, numClasses: number, row: number, folder: number, calibration: Calibration, confidence: number): void {
  if (confidence >= calibration.threshold) return;
  const first = row * k;
  const off = calibration.smoothing / numClasses;
  // Move the folder class to the front, keeping the other classes in order (dropping the
  // last when the folder class was not stored).
  let at = k - 1;
  for (let j = 0; j < k; j++) if (classes[first + j] === folder) at = j;
  for (let j = at; j > 0; j--) classes[first + j] = classes[first + j - 1]!;
  classes[first] = folder;
  for (let j = 1; j < k; j++) probs[first + j] = off;
  probs[first] = 1 - calibration.smoothing + off;
}
