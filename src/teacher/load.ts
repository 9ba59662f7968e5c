import { open, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { FkdError } from '../errors.js';
import { modelFileError, TEACHER_USAGE, validateTeacherOptions } from './common.js';
import type { TeacherEngine, TeacherOptions } from './engine.js';

export type TeacherFormat = 'onnx' | 'tfjs';

/** Where a teacher lives once a user-given path has been resolved. */
export interface TeacherFile {
  format: TeacherFormat;
  /** The model file itself: the `.onnx` file, or the TF.js `model.json`. */
  path: string;
}

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
      throw new FkdError('E_MODEL_LOAD', `Teacher folder ${file} has no model.json. ${TEACHER_USAGE}`, { path: file, cause: error });
    }
  }
  if (!stats.isFile()) {
    throw new FkdError('E_MODEL_LOAD', `Teacher model ${path} is not a regular file. ${TEACHER_USAGE}`, { path });
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
    throw new FkdError('E_MODEL_LOAD', `Teacher model ${path} is not an ONNX model: its first bytes do not match the format. ${TEACHER_USAGE}`, { path });
  }
  if (extension === '.json' || basename(path) === 'model.json' || startsWithJson(head)) return { format: 'tfjs', path };
  if (looksLikeOnnx(head)) return { format: 'onnx', path };
  throw new FkdError('E_MODEL_LOAD', `Teacher model ${path} is neither an ONNX model nor a TF.js model.json. ${TEACHER_USAGE}`, { path });
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
  return TEACHER_USAGE;
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
