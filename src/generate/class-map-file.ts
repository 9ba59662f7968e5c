import { FkdError, isFkdError } from '../errors.js';
import { readFileCapped } from '../io/read-file.js';
import { parseClassMap, resolveClassMap, type ClassMap } from '../labels/class-map.js';

/** Class map files are small text: a map of every ImageNet-22k class is about 0.5 MB. */
const MAX_CLASS_MAP_BYTES = 16 * 1024 * 1024;

/**
 * The class map of a label run, from a `{ folder: index }` object or a file (JSON object or
 * two-column text), checked against the dataset's folders and the teacher's output count.
 *
 * @example
 * const map = await loadClassMap('imagenet-map.txt', dataset.classes, teacher.info.numClasses);
 */
export async function loadClassMap(source: string | Readonly<Record<string, unknown>>, folders: readonly string[], outputs: number): Promise<ClassMap> {
  if (typeof source !== 'string') return resolveClassMap(source, folders, outputs, 'classMap');
  let bytes: Buffer;
  try {
    // Capped and regular files only: /dev/zero or a FIFO must not grow memory or hang.
    bytes = await readFileCapped(source, MAX_CLASS_MAP_BYTES, `Class map ${source}`);
  } catch (error) {
    if (isFkdError(error)) throw new FkdError('E_CLASS_MAP', `${error.message} A class map is a small JSON or text file (limit ${MAX_CLASS_MAP_BYTES} bytes).`, { path: source, cause: error });
    throw new FkdError('E_IO', `Cannot read class map ${source}: ${(error as Error).message}`, { path: source, cause: error });
  }
  return resolveClassMap(parseClassMap(bytes.toString('utf8'), source), folders, outputs, source);
}
