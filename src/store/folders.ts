import { FkdError } from '../errors.js';
import { presentImages, type ImageBlock } from './format/columns.js';

/**
 * The folder class of each image of a shard that has records (in `presentImages` order),
 * from its path's first component. An image outside every listed class folder means the
 * shard does not belong to this manifest: `E_CORRUPT_SHARD`, naming `where`.
 *
 * @example
 * const folders = folderClasses(images, new Map(classes.map((name, i) => [name, i])), 'labels/shards/000000.fkd');
 */
export function folderClasses(images: ImageBlock, classIndex: ReadonlyMap<string, number>, where: string): { local: Uint32Array; classOf: Int32Array } {
  const local = presentImages(images);
  const classOf = new Int32Array(local.length);
  for (let i = 0; i < local.length; i++) {
    const path = images.paths[local[i]!]!;
    const slash = path.indexOf('/');
    const folder = classIndex.get(slash < 0 ? '' : path.slice(0, slash));
    if (folder === undefined) {
      throw new FkdError('E_CORRUPT_SHARD', `${where}: image ${path} is not inside one of the ${classIndex.size} class folders the manifest lists.`, { path: where });
    }
    classOf[i] = folder;
  }
  return { local, classOf };
}
