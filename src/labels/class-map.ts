import { FkdError } from '../errors.js';
import { StrictJsonError, parseStrictJson } from '../io/strict-json.js';
import { integerFromText } from '../options/schema.js';

/**
 * How the class folders are numbered in a teacher's output, as recorded in the manifest
 * under `teacher.classMap`: the teacher has `outputs` classes, and folder class f (in sorted
 * folder order) is its output `indices[f]`.
 */
export interface ClassMap {
  outputs: number;
  indices: number[];
}

const MAX_SHOWN = 5;

function list(names: readonly string[]): string {
  const shown = names.slice(0, MAX_SHOWN).map((name) => JSON.stringify(name)).join(', ');
  return names.length > MAX_SHOWN ? `${shown} and ${names.length - MAX_SHOWN} more` : shown;
}

/**
 * Reads a class map file: a JSON object `{ "folder": outputIndex, ... }`, or text with one
 * `folder outputIndex` pair per line (blank lines, `#` lines and a trailing ` # comment` skipped; the index is the
 * last field, so folder names may hold spaces). Values are checked by `resolveClassMap`.
 *
 * @example
 * parseClassMap('n01440764 0\nn01443537 1\n', 'map.txt'); // { n01440764: 0, n01443537: 1 }
 */
export function parseClassMap(text: string, source: string): Record<string, unknown> {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      // Strict: a key given twice is refused (JSON.parse keeps the last), as the text form refuses it.
      parsed = parseStrictJson(trimmed, { maxString: 65536, maxDepth: 2 });
    } catch (error) {
      if (!(error instanceof StrictJsonError)) throw error;
      throw new FkdError('E_CLASS_MAP', `Class map ${source} starts like JSON but does not parse: ${error.message}`, { path: source, cause: error });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FkdError('E_CLASS_MAP', `Class map ${source} must be a JSON object of folder → teacher output index.`, { path: source });
    return parsed as Record<string, unknown>;
  }
  const map: Record<string, unknown> = {};
  for (const [n, raw] of trimmed.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    // "folder index", then an optional comment: `cat 281  # tabby`. The folder takes the
    // shortest match, so "red fox 7" is folder "red fox", and a "#" inside a folder name stays.
    const pair = /^(.*?\S)\s+(\S+)(?:\s+#.*)?$/.exec(line);
    if (!pair) throw new FkdError('E_CLASS_MAP', `Class map ${source} line ${n + 1}: expected "folder outputIndex" but read ${JSON.stringify(line)}.`, { path: source });
    const [, folder, index] = pair as unknown as [string, string, string];
    if (Object.hasOwn(map, folder)) throw new FkdError('E_CLASS_MAP', `Class map ${source} line ${n + 1}: folder ${JSON.stringify(folder)} is mapped twice.`, { path: source });
    map[folder] = integerFromText(index) ?? index;
  }
  return map;
}

/**
 * Checks a folder → output map against the dataset's folders and the teacher's output count
 * and returns the manifest's form. Entries for folders the dataset lacks are allowed (one map
 * of a 1000-class teacher serves every subset) but still checked. Refusals are `E_CLASS_MAP`:
 * an index that is not an integer in 0..outputs−1, two folders on one output, and folders the
 * map leaves out, each naming the entries at fault.
 *
 * @example
 * resolveClassMap({ cat: 281, dog: 207 }, ['cat', 'dog'], 1000, 'map.json'); // { outputs: 1000, indices: [281, 207] }
 */
export function resolveClassMap(map: Readonly<Record<string, unknown>>, folders: readonly string[], outputs: number, source: string): ClassMap {
  const bad = Object.entries(map).filter(([, index]) => !(typeof index === 'number' && Number.isInteger(index) && index >= 0 && index < outputs));
  if (bad.length > 0) {
    throw new FkdError('E_CLASS_MAP', `Class map ${source} maps ${list(bad.map(([folder]) => folder))} to ${bad.slice(0, MAX_SHOWN).map(([, index]) => JSON.stringify(index)).join(', ')}: the teacher has ${outputs} outputs, so each index must be an integer in 0..${outputs - 1}.`, { path: source });
  }
  const owner = new Map<number, string>();
  for (const [folder, index] of Object.entries(map) as Array<[string, number]>) {
    const first = owner.get(index);
    if (first !== undefined) throw new FkdError('E_CLASS_MAP', `Class map ${source} maps both ${JSON.stringify(first)} and ${JSON.stringify(folder)} to teacher output ${index}: each output may stand for one folder only.`, { path: source });
    owner.set(index, folder);
  }
  const missing = folders.filter((folder) => !Object.hasOwn(map, folder));
  if (missing.length > 0) {
    throw new FkdError('E_CLASS_MAP', `Class map ${source} does not map ${missing.length} of the ${folders.length} class folders: ${list(missing)}. Every folder needs a teacher output.`, { path: source });
  }
  return { outputs, indices: folders.map((folder) => map[folder] as number) };
}

/**
 * The teacher's distribution restricted to the mapped outputs and renormalised, one row of
 * `indices.length` folder classes per crop. Applied to softmax(logits / T) over every output,
 * this equals the softmax of the mapped logits alone; for a teacher that emits probabilities
 * it is the distribution given that the class is one of the folders. A row whose mapped mass
 * is 0 becomes uniform.
 *
 * @example
 * restrictToFolders(Float32Array.of(0.5, 0.3, 0.2), 1, 3, [2, 0], new Float32Array(2)); // Float32Array [0.2857…, 0.7142…]
 */
export function restrictToFolders<T extends Float32Array>(probabilities: Float32Array, rows: number, outputs: number, indices: readonly number[], out: T): T {
  const folders = indices.length;
  for (let row = 0; row < rows; row++) {
    let mass = 0;
    for (let f = 0; f < folders; f++) mass += probabilities[row * outputs + indices[f]!]!;
    for (let f = 0; f < folders; f++) out[row * folders + f] = mass > 0 ? probabilities[row * outputs + indices[f]!]! / mass : 1 / folders;
  }
  return out;
}
