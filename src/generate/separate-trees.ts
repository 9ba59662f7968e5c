import { FkdError } from '../errors.js';
import { isWithin, realPathSoFar } from '../io/real-path.js';
import { localPathOf } from '../storage/open.js';

/**
 * Refuses a store inside the dataset tree, or a dataset inside the store, before any work:
 * the store's files would become images of the dataset (or the run would scan its own
 * output), so the fingerprint would change on every run and the store could never be
 * verified, loaded or resumed. Symlinks are resolved, so a link cannot hide the nesting.
 *
 * @example
 * await checkSeparateTrees('train', 'train/labels'); // throws E_USAGE
 */
export async function checkSeparateTrees(data: string, out: string): Promise<void> {
  const outPath = localPathOf(out);
  if (outPath === null) return;
  const [dataReal, outReal] = await Promise.all([realPathSoFar(data), realPathSoFar(outPath)]);
  const problem = isWithin(outReal, dataReal) ? `The store (out) ${out} is inside the dataset (data) ${data}` : isWithin(dataReal, outReal) ? `The dataset (data) ${data} is inside the store (out) ${out}` : null;
  if (problem) {
    throw new FkdError('E_USAGE', `${problem}: the store's files would be scanned as part of the dataset, so it could never be verified, loaded or resumed. Put the store beside the dataset, not in it.`, { path: outPath, option: 'out' });
  }
}
