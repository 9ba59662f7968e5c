import { open, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { FkdError, isFkdError } from '../errors.js';
import type { Layout, TeacherEngine, TeacherInfo, TeacherOptions } from './engine.js';

export type TeacherFormat = 'onnx' | 'tfjs';

/** Where a teacher lives once a user-given path has been resolved. */
export interface TeacherFile {
  format: TeacherFormat;
  /** The model file itself: the `.onnx` file, or the TF.js `model.json`. */
  path: string;
}

/** What an image model's input tells us, after the user's options are applied. */
export interface InputGeometry {
  layout: Layout;
  inputSize: number;
  fixedBatch: number | null;
}

/** Side used when neither the model nor the user fixes the input size: the ImageNet default. */
export const defaultInputSize = 224;

const usage = 'Pass a .onnx file, a TF.js model.json, or the folder that holds model.json.';

/**
 * Loads a teacher model, picking the engine from the file: `.onnx` (or ONNX content) runs on
 * onnxruntime-node, `model.json` (or a folder holding one) on TF.js. Every problem that can
 * be seen before inference (missing file, not a model, unusable input shape, unavailable
 * device) is thrown here as an `FkdError` naming the file.
 *
 * @example
 * const teacher = await loadTeacher('models/resnet18.onnx', { device: 'cpu', threads: 2 });
 * console.log(describeTeacher(teacher.info));
 * const logits = await teacher.infer(batch, 16);
 * await teacher.dispose();
 */
export async function loadTeacher(file: string, options: TeacherOptions = {}): Promise<TeacherEngine> {
  validateTeacherOptions(options);
  const located = await locateTeacher(file);
  // Engines are imported lazily so that an ONNX user never pays for loading TF.js, and back.
  if (located.format === 'onnx') {
    const { OnnxTeacher } = await import('./onnx.js');
    return OnnxTeacher.load(located.path, options);
  }
  const { TfjsTeacher } = await import('./tfjs.js');
  return TfjsTeacher.load(located.path, options);
}

/**
 * Throws `E_MODEL_SHAPE` unless the teacher's output width equals the dataset's class count.
 * Top-k class ids are only meaningful to the student when both sides number classes alike.
 *
 * @example
 * checkClassCount(teacher, dataset.classes.length, 'models/resnet18.onnx');
 */
export function checkClassCount(engine: Pick<TeacherEngine, 'info'>, numClasses: number, file: string): void {
  const outputs = engine.info.numClasses;
  if (outputs === numClasses) return;
  throw new FkdError(
    'E_MODEL_SHAPE',
    `Teacher ${file} outputs ${outputs} classes but the dataset has ${numClasses} class folders. ` +
      'Use a teacher trained on the same classes, or a dataset with one folder per teacher class (in the same order).',
    { path: file },
  );
}

/**
 * One line for logs and the CLI.
 *
 * @example
 * describeTeacher(teacher.info);
 * // 'onnx teacher on cpu: 224×224 nchw input, 1000 classes, dynamic batch'
 */
export function describeTeacher(info: TeacherInfo): string {
  const batch = info.fixedBatch === null ? 'dynamic batch' : `fixed batch of ${info.fixedBatch}`;
  const size = `${info.inputSize}×${info.inputSize}`;
  return `${info.engine} teacher on ${info.backend}: ${size} ${info.layout} input, ${info.numClasses} classes, ${batch}`;
}

/**
 * Resolves a user-given teacher path to a model file and its format, reading only a few
 * bytes. Folders resolve to their `model.json`.
 *
 * @example
 * await locateTeacher('models/tfjs'); // { format: 'tfjs', path: 'models/tfjs/model.json' }
 */
export async function locateTeacher(file: string): Promise<TeacherFile> {
  let path = file;
  let stats = await statModelFile(path, file);
  if (stats.isDirectory()) {
    path = join(file, 'model.json');
    try {
      stats = await stat(path);
    } catch (error) {
      throw new FkdError('E_MODEL_LOAD', `Teacher folder ${file} has no model.json. ${usage}`, { path: file, cause: error });
    }
  }
  if (!stats.isFile()) {
    throw new FkdError('E_MODEL_LOAD', `Teacher model ${path} is not a regular file. ${usage}`, { path });
  }
  if (stats.size === 0) {
    throw new FkdError('E_MODEL_LOAD', `Teacher model ${path} is empty. Copy or export the model again.`, { path });
  }

  const head = await readHead(path);
  const extension = extname(path).toLowerCase();
  const looksLike = recognise(head);
  if (looksLike !== null) {
    throw new FkdError('E_MODEL_LOAD', `Teacher model ${path} is ${looksLike}, not a model fkd can run. ${conversionHint(looksLike)}`, { path });
  }
  if (extension === '.onnx') {
    if (looksLikeOnnx(head)) return { format: 'onnx', path };
    throw new FkdError('E_MODEL_LOAD', `Teacher model ${path} is not an ONNX model: its first bytes do not match the format. ${usage}`, { path });
  }
  if (extension === '.json' || basename(path) === 'model.json' || startsWithJson(head)) return { format: 'tfjs', path };
  if (looksLikeOnnx(head)) return { format: 'onnx', path };
  throw new FkdError('E_MODEL_LOAD', `Teacher model ${path} is neither an ONNX model nor a TF.js model.json. ${usage}`, { path });
}

/**
 * Checks the user's teacher options eagerly, before anything is loaded.
 *
 * @example
 * validateTeacherOptions({ size: 224, threads: 2 });
 */
export function validateTeacherOptions(options: TeacherOptions): void {
  for (const name of ['size', 'threads'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new FkdError('E_USAGE', `Expected positive integer for ${name} but received ${String(value)}`);
    }
  }
  if (options.device !== undefined && options.device !== 'cpu' && options.device !== 'cuda') {
    throw new FkdError('E_USAGE', `Expected 'cpu' or 'cuda' for device but received ${String(options.device)}`);
  }
}

/**
 * Reads layout, input side and batch from a rank-4 image input. `dims` holds `null` for
 * dynamic dimensions. The channel dimension (3) decides the layout; `preferred` breaks the
 * tie when both candidate positions hold 3.
 *
 * @example
 * resolveInputGeometry([null, 3, 224, 224], 'nchw', {}, 'resnet.onnx');
 * // { layout: 'nchw', inputSize: 224, fixedBatch: null }
 */
export function resolveInputGeometry(
  dims: readonly (number | null)[],
  preferred: Layout,
  options: TeacherOptions,
  file: string,
): InputGeometry {
  const shown = `[${dims.map((dim) => dim ?? '?').join(', ')}]`;
  const expected = 'fkd feeds image batches shaped [batch, 3, size, size] (NCHW) or [batch, size, size, 3] (NHWC)';
  if (dims.length !== 4) {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} takes a rank-${dims.length} input ${shown}, but ${expected}.`, { path: file });
  }
  const [batch, second, third, fourth] = dims as [number | null, number | null, number | null, number | null];
  let layout: Layout;
  if (second === 3 && fourth === 3) layout = preferred;
  else if (second === 3) layout = 'nchw';
  else if (fourth === 3) layout = 'nhwc';
  else {
    throw new FkdError(
      'E_MODEL_SHAPE',
      `Teacher ${file} takes input ${shown} with no 3-channel dimension at position 1 or 3, but ${expected}. ` +
        'Export the model with a fixed channel count of 3.',
      { path: file },
    );
  }
  const [height, width] = layout === 'nchw' ? [third, fourth] : [second, third];
  if (height !== null && width !== null && height !== width) {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} takes ${height}×${width} inputs, but fkd renders square crops. Export the model with a square input.`, { path: file });
  }
  const modelSize = height ?? width;
  if (modelSize !== null && options.size !== undefined && options.size !== modelSize) {
    throw new FkdError(
      'E_MODEL_SHAPE',
      `Teacher ${file} has a fixed ${modelSize}×${modelSize} input, but size ${options.size} was requested. Drop --size or set it to ${modelSize}.`,
      { path: file },
    );
  }
  return {
    layout,
    inputSize: modelSize ?? options.size ?? defaultInputSize,
    fixedBatch: batch !== null && batch > 0 ? batch : null,
  };
}

/**
 * Runs `n` rows through `run`, honouring a fixed model batch: larger inputs are split, and a
 * short final chunk is zero-padded, so `run` always sees exactly `fixedBatch` rows. Returns
 * exactly `n` rows of `numClasses` outputs.
 *
 * @example
 * const rows = await runInBatches(input, 11, 3 * 64 * 64, 4, 8, (chunk, batch) => session(chunk, batch), 'tiny.onnx');
 */
export async function runInBatches(
  input: Float32Array,
  n: number,
  rowLength: number,
  numClasses: number,
  fixedBatch: number | null,
  run: (chunk: Float32Array, batch: number) => Promise<Float32Array>,
  file: string,
): Promise<Float32Array> {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`Expected a non-negative integer batch but received ${n}`);
  if (input.length !== n * rowLength) {
    throw new RangeError(`Expected ${n} × ${rowLength} = ${n * rowLength} input values but received ${input.length}`);
  }
  if (n === 0) return new Float32Array(0);
  const step = fixedBatch ?? n;
  const output = fixedBatch === null ? null : new Float32Array(n * numClasses);
  for (let start = 0; start < n; start += step) {
    const count = Math.min(step, n - start);
    let chunk = input.subarray(start * rowLength, (start + count) * rowLength);
    if (count < step) {
      const padded = new Float32Array(step * rowLength);
      padded.set(chunk);
      chunk = padded;
    }
    const rows = await run(chunk, step);
    if (rows.length !== step * numClasses) {
      throw new FkdError(
        'E_MODEL_SHAPE',
        `Teacher ${file} returned ${rows.length} values for a batch of ${step}; expected ${step} × ${numClasses} classes.`,
        { path: file },
      );
    }
    if (output === null) return rows;
    output.set(rows.subarray(0, count * numClasses), start * numClasses);
  }
  return output ?? new Float32Array(0);
}

/** Shared wording for a model file that cannot be opened. */
export function modelFileError(error: unknown, path: string, what = 'Teacher model'): FkdError {
  if (isFkdError(error)) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new FkdError('E_MODEL_LOAD', `${what} ${path} does not exist. ${usage}`, { path, cause: error });
  if (code === 'EACCES' || code === 'EPERM') {
    return new FkdError('E_MODEL_LOAD', `${what} ${path} is not readable (permission denied). Check its permissions.`, { path, cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new FkdError('E_MODEL_LOAD', `${what} ${path} could not be read: ${detail}`, { path, cause: error });
}

async function statModelFile(path: string, shown: string) {
  try {
    return await stat(path);
  } catch (error) {
    throw modelFileError(error, shown);
  }
}

async function readHead(path: string): Promise<Uint8Array> {
  try {
    const handle = await open(path, 'r');
    try {
      const head = new Uint8Array(16);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      return head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw modelFileError(error, path);
  }
}

// Common files that get passed as a teacher by mistake; naming them beats "parse failed".
function recognise(head: Uint8Array): string | null {
  const starts = (...bytes: number[]) => bytes.every((byte, index) => head[index] === byte);
  if (starts(0xff, 0xd8, 0xff)) return 'a JPEG image';
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'a PNG image';
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'a GIF image';
  if (starts(0x89, 0x48, 0x44, 0x46)) return 'an HDF5 file (Keras .h5)';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return 'a zip archive (a PyTorch checkpoint?)';
  if (head[0] === 0x80 && head[1] !== undefined && head[1] >= 2 && head[1] <= 5) return 'a Python pickle (a PyTorch checkpoint?)';
  return null;
}

function conversionHint(kind: string): string {
  if (kind.includes('PyTorch')) return 'Export the model with torch.onnx.export and pass the .onnx file.';
  if (kind.includes('Keras')) return 'Convert it with tensorflowjs_converter and pass the model.json.';
  return usage;
}

function startsWithJson(head: Uint8Array): boolean {
  for (const byte of head) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09 || byte === 0xef || byte === 0xbb || byte === 0xbf) continue;
    return byte === 0x7b; // '{'
  }
  return false;
}

// An ONNX file is a serialised ModelProto: its first byte is the tag of one of its fields
// (ir_version, producer_*, domain, model_version, doc_string, graph, opset_import, ...).
const onnxFirstBytes = new Set([0x08, 0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72, 0xa2, 0xca, 0xd2]);

function looksLikeOnnx(head: Uint8Array): boolean {
  return head[0] !== undefined && onnxFirstBytes.has(head[0]);
}
