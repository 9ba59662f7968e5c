import { readFile } from 'node:fs/promises';
import { FkdError } from '../errors.js';
import { parseClassMap, resolveClassMap, type ClassMap } from '../labels/class-map.js';

/** Class map files are small text: a map of every ImageNet-22k class is well under this. */
const MAX_CLASS_MAP_BYTES = 64 * 1024 * 1024;

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
    bytes = await readFile(source);
  } catch (error) {
    throw new FkdError('E_IO', `Cannot read class map ${source}: ${(error as Error).message}`, { path: source, cause: error });
  }
  if (bytes.length > MAX_CLASS_MAP_BYTES) throw new FkdError('E_CLASS_MAP', `Class map ${source} is ${bytes.length} bytes, more than a class map needs (limit ${MAX_CLASS_MAP_BYTES}).`, { path: source });
  return resolveClassMap(parseClassMap(bytes.toString('utf8'), source), folders, outputs, source);
}
