import type { Dataset } from '../dataset/scan.js';
import { clip } from '../io/hostile-text.js';
import type { ManifestDataset } from './manifest.js';

/** How a tree differs from the dataset a store names. */
export interface DatasetDifference {
  detail: string;
  /**
   * The tree lacks a class the store names, so labels would give mass to a class no folder
   * holds: no policy may skip past it. (A tree that only gained folders is matched by path
   * under `onError: 'skip'`, class indices taken from the store's names.)
   */
  missingClasses: boolean;
}

/**
 * Compares a scanned tree with a manifest's `dataset` the way docs/FORMAT.md §3 says a reader
 * given a tree must: the class list, then the image count, then the fingerprint. The
 * fingerprint alone is not enough: a manifest whose `classes` were extended but whose
 * `fingerprint` field was kept would otherwise pass, every dense row giving mass to a class
 * the tree does not have (a reordered list is refused by the manifest itself: classes are
 * sorted). `undefined` when they agree.
 *
 * @example
 * const difference = datasetDifference(await scanDataset('train'), labels.manifest.dataset);
 */
export function datasetDifference(tree: Dataset, expected: Pick<ManifestDataset, 'classes' | 'images' | 'fingerprint'>): DatasetDifference | undefined {
  const [mine, theirs] = [tree.classes, expected.classes];
  if (mine.length !== theirs.length || mine.some((name, i) => name !== theirs[i])) {
    const at = mine.findIndex((name, i) => name !== theirs[i]);
    const first = at < 0 ? Math.min(mine.length, theirs.length) : at;
    const show = (name: string | undefined) => (name === undefined ? 'none' : JSON.stringify(clip(name, 80)));
    const present = new Set(mine);
    return { missingClasses: theirs.some((name) => !present.has(name)), detail: `its ${mine.length} class folders are not the manifest's ${theirs.length} classes (class ${first}: ${show(mine[first])} in the tree, ${show(theirs[first])} in dataset.classes)` };
  }
  if (tree.images.length !== expected.images) return { missingClasses: false, detail: `it has ${tree.images.length} images, the labels ${expected.images}` };
  if (tree.fingerprint !== expected.fingerprint) return { missingClasses: false, detail: 'file names or sizes differ' };
  return undefined;
}
