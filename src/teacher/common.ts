import { FkdError, isFkdError } from '../errors.js';
import type { Layout } from '../crop/tensor.js';
import type { TeacherEngine, TeacherInfo, TeacherOptions } from './engine.js';

// Helpers shared by the engine factory (load.ts) and the engines (onnx.ts, tfjs.ts). They live
// apart from the factory so that the engines never import the module that imports them.

/** What an image model's input tells us, after the user's options are applied. */
export interface InputGeometry {
  layout: Layout;
  inputSize: number;
  fixedBatch: number | null;
}

/** Side used when neither the model nor the user fixes the input size: the ImageNet default. */
export const defaultInputSize = 224;

export const TEACHER_USAGE = 'Pass a .onnx file, a TF.js model.json, or the folder that holds model.json.';

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
      'Map each folder to a teacher output with classMap, use a teacher trained on the same classes, or a dataset with one folder per teacher class (in the same order).',
    { path: file, option: 'classMap' },
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
      `Teacher ${file} has a fixed ${modelSize}×${modelSize} input, but size ${options.size} was requested. Drop size or set it to ${modelSize}.`,
      { path: file, option: 'size' },
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
  if (code === 'ENOENT') return new FkdError('E_MODEL_LOAD', `${what} ${path} does not exist. ${TEACHER_USAGE}`, { path, cause: error });
  if (code === 'EACCES' || code === 'EPERM') {
    return new FkdError('E_MODEL_LOAD', `${what} ${path} is not readable (permission denied). Check its permissions.`, { path, cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new FkdError('E_MODEL_LOAD', `${what} ${path} could not be read: ${detail}`, { path, cause: error });
}
