import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import pLimit from 'p-limit';
import { FkdError } from '../errors.js';

/** One image of an ImageFolder tree. */
export interface DatasetImage {
  /** Path relative to the dataset root, `/`-separated. */
  path: string;
  classIndex: number;
  /** File size in bytes, part of the fingerprint. */
  size: number;
}

export interface Dataset {
  root: string;
  /** Class folder names in sorted order; a class's index is its position here. */
  classes: string[];
  /** Images sorted by class, then path: an image's index is its position here. */
  images: DatasetImage[];
  /** Files passed over by the scan, counted per reason. */
  ignored: { hidden: number; notImage: number; unusableName: number };
  /** sha256 over the classes and every image's path and size. */
  fingerprint: string;
}

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic']);

/** File names that were not valid UTF-8 come back from the OS with unpaired surrogates. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Byte order, not locale order, so every machine sorts the same way. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Scans an ImageFolder tree, `<root>/<class>/<image>` (nested folders inside a class are
 * walked too, as torchvision does). Hidden entries, files without an image extension and
 * names that cannot be stored (a backslash, or bytes that are not UTF-8) are skipped and counted.
 *
 * @example
 * const dataset = await scanDataset('~/imagenet/train');
 * console.log(dataset.classes.length, dataset.images.length, dataset.fingerprint);
 */
export async function scanDataset(rootDirectory: string): Promise<Dataset> {
  const root = resolve(rootDirectory);
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    throw new FkdError('E_IO', `Cannot read the dataset folder ${root}: ${(error as Error).message}. Pass --data pointing at an ImageFolder tree (<root>/<class>/<image>).`, { path: root, cause: error });
  }
  const classes = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort(byCodePoint);
  if (classes.length === 0) {
    throw new FkdError('E_EMPTY_DATASET', `${root} has no class folders. Expected an ImageFolder tree: <root>/<class>/<image>.`, { path: root });
  }
  const ignored = { hidden: 0, notImage: 0, unusableName: 0 };
  const relativePaths: Array<{ path: string; classIndex: number }> = [];
  for (const [classIndex, name] of classes.entries()) {
    const files = await walk(join(root, name), name, ignored);
    for (const path of files.sort(byCodePoint)) relativePaths.push({ path, classIndex });
  }
  if (relativePaths.length === 0) {
    throw new FkdError('E_EMPTY_DATASET', `${root} has ${classes.length} class folders but no images in them.`, { path: root });
  }
  const limit = pLimit(64);
  const images = await Promise.all(
    relativePaths.map(({ path, classIndex }) =>
      limit(async () => ({ path, classIndex, size: (await stat(join(root, ...path.split('/')))).size })),
    ),
  );
  return { root, classes, images, ignored, fingerprint: fingerprintOf(classes, images) };
}

async function walk(directory: string, prefix: string, ignored: Dataset['ignored']): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const relative = `${prefix}/${entry.name}`;
    if (entry.name.startsWith('.')) {
      ignored.hidden++;
    } else if (entry.name.includes('\\') || LONE_SURROGATE.test(entry.name)) {
      // Store paths are `/`-separated UTF-8 (docs/FORMAT.md); such a name cannot round-trip.
      ignored.unusableName++;
    } else if (entry.isDirectory()) {
      found.push(...(await walk(join(directory, entry.name), relative, ignored)));
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      if (IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) found.push(relative);
      else ignored.notImage++;
    }
  }
  return found;
}

/** The dataset's identity: class names, then one `path\tsize` line per image. */
export function fingerprintOf(classes: readonly string[], images: readonly DatasetImage[]): string {
  const hash = createHash('sha256');
  hash.update(`classes\t${classes.join('\t')}\n`);
  for (const image of images) hash.update(`${image.path}\t${image.size}\n`);
  return hash.digest('hex');
}

/** The absolute path of an image of a dataset. */
export function imagePath(dataset: Pick<Dataset, 'root'>, image: Pick<DatasetImage, 'path'>): string {
  return join(dataset.root, ...image.path.split('/'));
}
