import { createHash } from 'node:crypto';
import type { Dirent, Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { extname, join, resolve } from 'node:path';
import pLimit from 'p-limit';
import { FkdError } from '../errors.js';
import { warnDeprecated } from '../options/deprecated.js';
import { BAD_EXCLUSIONS, ExclusionLog, type ExclusionKind } from './exclusions.js';
import type { ImageLocation, ImageSource } from './source.js';

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
  /** Entries the scan passed over, counted per kind, the first ones with their reason. */
  excluded: ExclusionLog;
  /** sha256 over the classes and every image's path and size. */
  fingerprint: string;
  /** Where the images' bytes are when they are not files under `root` (a WebDataset shard set). */
  source?: ImageSource;
}

/** What to do with an entry that looks like data but cannot be used (see `BAD_EXCLUSIONS`). */
export type BadEntryPolicy = 'skip' | 'throw';

export interface ScanOptions {
  /**
   * `skip` (default) records the entry and goes on; `throw` stops at the first with `E_BAD_ENTRY`,
   * as the loader's `onError: 'throw'` does. `fail` is the deprecated spelling of `throw`.
   */
  onBadEntry?: BadEntryPolicy | 'fail';
}

/** What sharp decodes here (`.jfif` and `.jpe` are JPEG). */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic']);

/** torchvision's ImageFolder reads these, sharp cannot: a user moving a torchvision tree over should hear about them. */
const UNSUPPORTED_IMAGE_EXTENSIONS = new Set(['.bmp', '.ppm', '.pgm', '.pbm', '.pnm']);

/** Stats in flight per directory: enough to hide a network filesystem's latency, few enough for one fd each. */
const STAT_CONCURRENCY = 64;

/** Byte order, not locale order, so every machine sorts the same way. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The policy, with the deprecated spelling `fail` read as `throw`. */
function badEntryPolicy(policy: BadEntryPolicy | 'fail' | undefined): BadEntryPolicy {
  if (policy !== 'fail') return policy ?? 'skip';
  warnDeprecated('onBadEntry "fail"', 'onBadEntry "throw"');
  return 'throw';
}

/**
 * Scans an ImageFolder tree, `<root>/<class>/<image>` (nested folders inside a class are
 * walked too, and symlinked folders and files are followed, as torchvision does). One bad
 * entry never stops the scan: each entry it passes over is recorded with its kind and reason
 * in `excluded`. Passed over:
 * - hidden entries, and files whose extension is not an image;
 * - image extensions sharp cannot decode (`.bmp`, `.ppm`, …), names a store cannot hold (a
 *   backslash, a control character such as TAB or LF, or bytes that are not UTF-8), dangling and looping symlinks, FIFOs, sockets
 *   and devices (never opened, so a FIFO cannot hang the run), and folders that cannot be
 *   read. These are "bad" entries: with `onBadEntry: 'throw'` the first one throws `E_BAD_ENTRY`;
 * - empty class folders are kept as classes (the teacher's class indices depend on them) and
 *   recorded as a warning.
 *
 * Names are read as bytes: Node would turn invalid UTF-8 into U+FFFD, and that path would
 * then name no file.
 *
 * @example
 * const dataset = await scanDataset('~/imagenet/train');
 * console.log(dataset.classes.length, dataset.images.length, dataset.excluded.total);
 */
export async function scanDataset(rootDirectory: string, options: ScanOptions = {}): Promise<Dataset> {
  const root = resolve(rootDirectory);
  const scan = new Scan(root, badEntryPolicy(options.onBadEntry));
  let rootInfo: Stats;
  let entries: Dirent<Buffer>[];
  try {
    rootInfo = await stat(root);
    entries = await readdir(root, { withFileTypes: true, encoding: 'buffer' });
  } catch (error) {
    throw new FkdError('E_IO', `Cannot read the dataset folder ${root}: ${(error as Error).message}. Point the data option at an ImageFolder tree (<root>/<class>/<image>).`, { path: root, option: 'data', cause: error });
  }
  const classFolders: Array<{ name: string; info: Stats }> = [];
  for (const entry of entries) {
    const found = await scan.classify(root, '', entry);
    if (found?.kind === 'directory') {
      if (found.info) classFolders.push({ name: found.name, info: found.info });
    }
    else if (found?.kind === 'file') scan.exclude(found.name, 'not-image', 'a file at the dataset root, outside any class folder');
  }
  classFolders.sort((a, b) => byCodePoint(a.name, b.name));
  const classes = classFolders.map((folder) => folder.name);
  if (classes.length === 0) {
    throw new FkdError('E_EMPTY_DATASET', `${root} has no class folders${scan.log.total ? ` (${scan.log.summary()})` : ''}. Expected an ImageFolder tree: <root>/<class>/<image>.`, { path: root });
  }
  const images: DatasetImage[] = [];
  for (const [classIndex, folder] of classFolders.entries()) {
    const found = await scan.walk(join(root, folder.name), folder.name, [identity(rootInfo), identity(folder.info)]);
    if (found.length === 0) scan.exclude(folder.name, 'empty-class', `a class folder with no images; kept as class ${classIndex} so the class indices still match the teacher`);
    found.sort((a, b) => byCodePoint(a.path, b.path));
    for (const image of found) images.push({ path: image.path, classIndex, size: image.size });
  }
  if (images.length === 0) {
    throw new FkdError('E_EMPTY_DATASET', `${root} has ${classes.length} class folders but no images in them (${scan.log.summary()}).`, { path: root });
  }
  return { root, classes, images, excluded: scan.log, fingerprint: fingerprintOf(classes, images) };
}

type Classified = { kind: 'directory'; name: string; info: Stats | null } | { kind: 'file'; name: string; info: Stats | null } | null;

/** One walk of a tree: where exclusions are recorded and the bad-entry policy applied. */
class Scan {
  readonly log = new ExclusionLog();

  constructor(
    private readonly root: string,
    private readonly policy: BadEntryPolicy,
  ) {}

  exclude(path: string, kind: ExclusionKind, reason: string): void {
    if (this.policy === 'throw' && BAD_EXCLUSIONS.has(kind)) {
      throw new FkdError('E_BAD_ENTRY', `${this.root}/${path}: ${reason}. Remove or fix it, or set onBadEntry to skip to pass over such entries.`, { path: `${this.root}/${path}`, option: 'onBadEntry' });
    }
    this.log.add(path, kind, reason);
  }

  /**
   * What an entry is, following a symlink to what it names; `null` when it was excluded.
   * Special files are refused from the directory entry alone, so they are never opened.
   */
  async classify(directory: string, prefix: string, entry: Dirent<Buffer>): Promise<Classified> {
    const bytes = entry.name;
    const valid = isUtf8(bytes);
    // For messages only: a name that is not UTF-8 shows its bad bytes as U+FFFD.
    const name = bytes.toString('utf8');
    const relative = prefix ? `${prefix}/${name}` : name;
    if (name.startsWith('.')) {
      this.exclude(relative, 'hidden', 'a hidden entry');
      return null;
    }
    if (!valid || name.includes('\\')) {
      // Store paths are `/`-separated UTF-8 (docs/FORMAT.md); such a name cannot round-trip.
      this.exclude(relative, 'unusable-name', valid ? 'a name with a backslash, which a store path cannot hold' : 'a name that is not valid UTF-8, which a store path cannot hold');
      return null;
    }
    if (CONTROL_CHARACTER.test(name)) {
      // The fingerprint lists `path\tsize\n`: a TAB or LF in a name would make two trees hash alike (FORMAT.md §3).
      this.exclude(relative, 'unusable-name', 'a name with a control character (TAB, LF, ESC, …), which the dataset fingerprint and a terminal cannot hold unambiguously');
      return null;
    }
    if (entry.isDirectory()) return { kind: 'directory', name, info: await this.statOrExclude(join(directory, name), relative) };
    if (entry.isFile()) return { kind: 'file', name, info: null };
    if (entry.isSymbolicLink()) {
      let info: Stats;
      try {
        info = await stat(join(directory, name));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') this.exclude(relative, 'dangling-link', 'a symlink to nothing');
        else if (code === 'ELOOP') this.exclude(relative, 'link-loop', 'a symlink that loops back on itself');
        else this.exclude(relative, 'unreadable', `a symlink that cannot be followed (${code ?? 'unknown error'})`);
        return null;
      }
      if (info.isDirectory()) return { kind: 'directory', name, info };
      if (info.isFile()) return { kind: 'file', name, info };
      this.exclude(relative, 'special-file', `a symlink to ${specialKind(info)}, which is never opened`);
      return null;
    }
    this.exclude(relative, 'special-file', `${specialKind(entry)}, which is never opened`);
    return null;
  }

  /** Every image below `directory`, with its size. `ancestors` are the folders on the way here, to catch links that loop. */
  async walk(directory: string, prefix: string, ancestors: string[]): Promise<Array<{ path: string; size: number }>> {
    let entries: Dirent<Buffer>[];
    try {
      entries = await readdir(directory, { withFileTypes: true, encoding: 'buffer' });
    } catch (error) {
      this.exclude(prefix, 'unreadable', `a folder that cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      return [];
    }
    const found: Array<{ path: string; size: number }> = [];
    const files: Array<{ path: string; absolute: string; info: Stats | null }> = [];
    for (const entry of entries) {
      const item = await this.classify(directory, prefix, entry);
      if (item === null) continue;
      const relative = `${prefix}/${item.name}`;
      if (item.kind === 'directory') {
        if (item.info === null) continue;
        const id = identity(item.info);
        if (ancestors.includes(id)) {
          this.exclude(relative, 'link-loop', 'a symlink to one of its own parent folders');
          continue;
        }
        // A loop, not push(...): a folder of a million images would overflow the call stack.
        for (const image of await this.walk(join(directory, item.name), relative, [...ancestors, id])) found.push(image);
        continue;
      }
      const extension = extname(item.name).toLowerCase();
      if (IMAGE_EXTENSIONS.has(extension)) files.push({ path: relative, absolute: join(directory, item.name), info: item.info });
      else if (UNSUPPORTED_IMAGE_EXTENSIONS.has(extension)) this.exclude(relative, 'unsupported-format', `a ${extension} file: torchvision reads it, fkd's decoder (sharp) cannot; convert it to PNG to include it`);
      else this.exclude(relative, 'not-image', extension ? `${extension} is not an image extension` : 'no image extension');
    }
    // Sizes are part of the fingerprint. A file that vanishes or turns unreadable between
    // the listing and its stat is recorded, not fatal.
    const limit = pLimit(STAT_CONCURRENCY);
    const sized = await Promise.all(
      files.map((file) =>
        limit(async () => {
          if (file.info) return { path: file.path, size: file.info.size };
          const info = await this.statOrExclude(file.absolute, file.path);
          return info && { path: file.path, size: info.size };
        }),
      ),
    );
    for (const file of sized) if (file) found.push(file);
    return found;
  }

  private async statOrExclude(path: string, relative: string): Promise<Stats | null> {
    try {
      return await stat(path);
    } catch (error) {
      this.exclude(relative, 'unreadable', `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      return null;
    }
  }
}

/** A folder's identity, so a link back to an ancestor is seen whatever path reached it. */
function identity(info: Stats): string {
  return `${info.dev}:${info.ino}`;
}

function specialKind(entry: Pick<Stats, 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice'>): string {
  if (entry.isFIFO()) return 'a FIFO';
  if (entry.isSocket()) return 'a socket';
  if (entry.isCharacterDevice()) return 'a character device';
  if (entry.isBlockDevice()) return 'a block device';
  return 'a special file';
}

/** C0 controls and DEL: never part of a path the scan keeps. */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** The dataset's identity: class names, then one `path\tsize` line per image (no name holds a TAB or LF: the scan refuses them). */
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

/**
 * Where to read a dataset image from: its file under the root for an ImageFolder, its shard
 * member for a shard set (`Dataset.source`).
 *
 * @example
 * const bytes = await readImageBytes(await imageLocation(dataset, dataset.images[0]!), dataset.images[0]!.path);
 */
export async function imageLocation(dataset: Pick<Dataset, 'root' | 'source'>, image: Pick<DatasetImage, 'path'>, signal?: AbortSignal): Promise<ImageLocation> {
  return dataset.source ? dataset.source.locate(image.path, signal) : imagePath(dataset, image);
}
