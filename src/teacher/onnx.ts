import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { FkdError } from '../errors.js';
import type { Device, TeacherEngine, TeacherInfo, TeacherOptions } from './engine.js';
import { resolveInputGeometry, runInBatches, validateTeacherOptions } from './common.js';

type Ort = typeof import('onnxruntime-node');

/**
 * A teacher on onnxruntime-node. Layout, input size, batch and class count come from the
 * model's own metadata; `options.size` only fills in a dynamic input size.
 */
export class OnnxTeacher implements TeacherEngine {
  readonly info: TeacherInfo;
  readonly #model: SessionModel;
  /** Where input in shared memory is copied: onnxruntime-node refuses a SharedArrayBuffer ("Invalid argument"). */
  #staging: Float32Array | null = null;

  private constructor(model: SessionModel, info: TeacherInfo) {
    this.#model = model;
    this.info = info;
  }

  /**
   * Opens an ONNX model and reads its input/output contract.
   *
   * @example
   * const teacher = await OnnxTeacher.load('fixtures/teacher/tiny.onnx', { threads: 2 });
   * teacher.info; // { engine: 'onnx', backend: 'cpu', inputSize: 64, layout: 'nchw', numClasses: 4, fixedBatch: null }
   */
  static async load(file: string, options: TeacherOptions = {}): Promise<OnnxTeacher> {
    validateTeacherOptions(options);
    const device: Device = options.device ?? 'cpu';
    const ort = await importOrt(file);
    if (device === 'cuda') assertCudaInstalled(ort);
    const session = await createSession(ort, file, device, options.threads ?? availableParallelism());
    try {
      const partial = describeSession(session, file, device, options);
      const model: SessionModel = { ort, session, file, inputName: session.inputNames[0]!, outputName: session.outputNames[0]! };
      const numClasses = partial.numClasses ?? (await probeClassCount(model, partial));
      return new OnnxTeacher(model, { ...partial, numClasses });
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /**
   * Runs `batch` crops (float32, in `info.layout`) and returns `batch` rows of raw outputs.
   *
   * @example
   * const logits = await teacher.infer(new Float32Array(2 * 3 * 64 * 64), 2); // length 2 × numClasses
   */
  infer(input: Float32Array, batch: number): Promise<Float32Array> {
    const { inputSize, numClasses, fixedBatch } = this.info;
    const run = (chunk: Float32Array, rows: number) => runOnce(this.#model, this.info, this.#unshared(chunk), rows);
    return runInBatches(input, batch, 3 * inputSize * inputSize, numClasses, fixedBatch, run, this.#model.file);
  }

  /** `chunk`, or a copy of it in plain memory when it lies in shared memory (render threads write teacher batches there). */
  #unshared(chunk: Float32Array): Float32Array {
    if (!(chunk.buffer instanceof SharedArrayBuffer)) return chunk;
    if (!this.#staging || this.#staging.length < chunk.length) this.#staging = new Float32Array(chunk.length);
    const copy = this.#staging.subarray(0, chunk.length);
    copy.set(chunk);
    return copy;
  }

  /** Releases the native session. */
  async dispose(): Promise<void> {
    await this.#model.session.release();
  }
}

/** An open session and the names of the one input it is fed and the one output it is read from. */
interface SessionModel {
  ort: Ort;
  session: InferenceSession;
  file: string;
  inputName: string;
  outputName: string;
}

async function importOrt(file: string): Promise<Ort> {
  try {
    return await import('onnxruntime-node');
  } catch (error) {
    throw new FkdError('E_MODEL_LOAD', `Cannot run ONNX teacher ${file}: onnxruntime-node failed to load (${(error as Error).message}). Reinstall fkd's dependencies.`, {
      path: file,
      cause: error,
    });
  }
}

const cudaHelp =
  'Install onnxruntime-node with its CUDA provider (ONNXRUNTIME_NODE_INSTALL=cuda12 npm install, on a host with CUDA 12 and cuDNN 9), or set device to cpu.';

/**
 * Fails fast, before ORT prints native errors, when the CUDA provider library cannot exist:
 * onnxruntime-node only bundles CPU binaries and downloads the CUDA ones at install time.
 */
function assertCudaInstalled(ort: Ort): void {
  const cuda = ort.listSupportedBackends().find((backend) => backend.name === 'cuda');
  if (!cuda) {
    throw new FkdError('E_DEVICE', `onnxruntime-node has no CUDA provider on ${process.platform}/${process.arch}. Set device to cpu.`, { option: 'device' });
  }
  const directory = bindingDirectory();
  // Only trust the file check when the binding directory layout is the one we know.
  if (directory !== null && !cuda.bundled && !existsSync(join(directory, 'libonnxruntime_providers_cuda.so'))) {
    throw new FkdError('E_DEVICE', `CUDA was requested, but the onnxruntime-node CUDA provider is not installed (no libonnxruntime_providers_cuda.so in ${directory}). ${cudaHelp}`, { option: 'device' });
  }
}

function bindingDirectory(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(dirname(require.resolve('onnxruntime-node')));
    const directory = join(root, 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(join(directory, 'onnxruntime_binding.node')) ? directory : null;
  } catch {
    return null;
  }
}

async function createSession(ort: Ort, file: string, device: Device, threads: number): Promise<InferenceSession> {
  try {
    return await ort.InferenceSession.create(file, {
      executionProviders: [device],
      intraOpNumThreads: threads,
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // ORT reports a provider it cannot start as a failure to append it or to load its library.
    if (device === 'cuda' && /cuda|execution ?provider|shared library/i.test(message)) {
      throw new FkdError('E_DEVICE', `CUDA was requested for teacher ${file}, but onnxruntime could not start its CUDA provider: ${message}. ${cudaHelp}`, {
        path: file,
        option: 'device',
        cause: error,
      });
    }
    throw new FkdError(
      'E_MODEL_LOAD',
      `Cannot load ONNX teacher ${file}: ${message}. Check that the file is a complete ONNX model (re-export or copy it again).`,
      { path: file, cause: error },
    );
  }
}

type PartialInfo = Omit<TeacherInfo, 'numClasses'> & { numClasses: number | null };

function describeSession(session: InferenceSession, file: string, device: Device, options: TeacherOptions): PartialInfo {
  const inputs = session.inputMetadata;
  if (inputs.length !== 1) {
    const names = session.inputNames.join(', ');
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} has ${inputs.length} inputs (${names}), but fkd feeds exactly one image batch.`, { path: file });
  }
  const input = tensorMetadata(inputs[0], 'input', file);
  const geometry = resolveInputGeometry(input.shape.map(toDimension), 'nchw', options, file);

  const output = tensorMetadata(session.outputMetadata[0], 'output', file);
  if (output.shape.length < 2) {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} output ${output.name} has rank ${output.shape.length}; expected [batch, classes].`, { path: file });
  }
  const perRow = output.shape.slice(1).map(toDimension);
  const numClasses = perRow.every((dim): dim is number => dim !== null) ? perRow.reduce((a, b) => a * b, 1) : null;
  return { engine: 'onnx', backend: device, ...geometry, numClasses };
}

function tensorMetadata(metadata: InferenceSession.ValueMetadata | undefined, role: string, file: string): InferenceSession.TensorValueMetadata {
  if (metadata === undefined) throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} has no ${role}.`, { path: file });
  if (!metadata.isTensor || metadata.type !== 'float32') {
    const type = metadata.isTensor ? metadata.type : 'non-tensor';
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} ${role} ${metadata.name} is ${type}; fkd needs a float32 ${role}. Export the model with float32 ${role}s.`, {
      path: file,
    });
  }
  return metadata;
}

// ORT gives symbolic (string) names for dynamic dimensions and numbers for fixed ones.
function toDimension(dim: number | string): number | null {
  return typeof dim === 'number' && dim > 0 ? dim : null;
}

// A dynamic output width is only known after running the model once.
async function probeClassCount(model: SessionModel, info: PartialInfo): Promise<number> {
  const batch = info.fixedBatch ?? 1;
  const rows = await runOnce(model, info, new Float32Array(batch * 3 * info.inputSize * info.inputSize), batch);
  if (rows.length === 0 || rows.length % batch !== 0) {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${model.file} returned ${rows.length} values for a batch of ${batch}; expected one row per crop.`, {
      path: model.file,
    });
  }
  return rows.length / batch;
}

async function runOnce(model: SessionModel, info: Pick<TeacherInfo, 'layout' | 'inputSize'>, chunk: Float32Array, batch: number): Promise<Float32Array> {
  const { ort, session, file, inputName, outputName } = model;
  const side = info.inputSize;
  const dims = info.layout === 'nchw' ? [batch, 3, side, side] : [batch, side, side, 3];
  const feeds = { [inputName]: new ort.Tensor('float32', chunk, dims) };
  let results: InferenceSession.ReturnType;
  try {
    results = await session.run(feeds, [outputName]);
  } catch (error) {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} failed on a ${dims.join('×')} input: ${(error as Error).message}`, { path: file, cause: error });
  }
  const data = results[outputName]?.data;
  if (!(data instanceof Float32Array)) {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} output ${outputName} is not float32.`, { path: file });
  }
  return data;
}
