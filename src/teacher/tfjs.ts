import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { GraphModel, io, LayersModel, Tensor } from '@tensorflow/tfjs';
import { FkdError, isFkdError } from '../errors.js';
import { loadTf } from '../tf/runtime.js';
import type { Tf } from '../tf/types.js';
import type { Layout } from '../crop/tensor.js';
import type { TeacherEngine, TeacherInfo, TeacherOptions } from './engine.js';
import { type InputGeometry, modelFileError, resolveInputGeometry, runInBatches, validateTeacherOptions } from './common.js';

export type TfjsModelKind = 'graph' | 'layers';

/** A parsed and checked `model.json`, with its weight files in manifest order. */
export interface TfjsModelFiles {
  kind: TfjsModelKind;
  json: io.ModelJSON;
  /** Weight shard paths, resolved against the folder of `model.json`, in manifest order. */
  weightFiles: string[];
}

/**
 * Reads a TF.js `model.json` and decides whether it is a GraphModel or a LayersModel,
 * without loading TF.js or any weights.
 *
 * @example
 * const { kind, weightFiles } = await readTfjsModelJson('models/mobilenet/model.json');
 */
export async function readTfjsModelJson(file: string): Promise<TfjsModelFiles> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw modelFileError(error, file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw notTfjs(file, `it is not valid JSON (${(error as Error).message})`, error);
  }
  if (!isRecord(json) || !isRecord(json['modelTopology'])) throw notTfjs(file, 'it has no modelTopology object');
  const manifest = json['weightsManifest'] ?? [];
  if (!Array.isArray(manifest) || !manifest.every((group) => isRecord(group) && Array.isArray(group['paths']) && Array.isArray(group['weights']))) {
    throw notTfjs(file, 'its weightsManifest is not a list of { paths, weights } groups');
  }
  const kind = modelKind(json['format'], json['modelTopology']);
  if (kind === null) throw notTfjs(file, 'its modelTopology is neither a TensorFlow graph nor a Keras model');

  const groups = manifest as io.WeightsManifestConfig;
  const weightFiles: string[] = [];
  for (const group of groups) {
    for (const path of group.paths) {
      if (typeof path !== 'string' || path === '' || isAbsolute(path) || /^[a-z][a-z0-9+.-]*:/i.test(path)) {
        throw notTfjs(file, `weight path ${JSON.stringify(path)} is not a file name relative to model.json`);
      }
      weightFiles.push(join(dirname(file), path));
    }
  }
  return { kind, json: { ...json, weightsManifest: groups } as io.ModelJSON, weightFiles };
}

/**
 * A teacher on TF.js, for GraphModels and LayersModels saved as `model.json` + weight shards.
 * Loads through its own file-system IOHandler, so pure `@tensorflow/tfjs` (wasm or cpu
 * backend) works as well as tfjs-node.
 */
export class TfjsTeacher implements TeacherEngine {
  readonly info: TeacherInfo;
  readonly #runner: Runner;

  private constructor(runner: Runner, info: TeacherInfo) {
    this.#runner = runner;
    this.info = info;
  }

  /**
   * Loads a TF.js model from `model.json`. Weight shards are read (and their total size
   * checked) before TF.js is touched, so a missing shard fails fast.
   *
   * @example
   * const teacher = await TfjsTeacher.load('fixtures/teacher/tfjs-layers/model.json');
   * teacher.info; // { engine: 'tfjs', backend: 'wasm', inputSize: 64, layout: 'nhwc', numClasses: 4, fixedBatch: null }
   */
  static async load(file: string, options: TeacherOptions = {}): Promise<TfjsTeacher> {
    validateTeacherOptions(options);
    const files = await readTfjsModelJson(file);
    const weights = await readWeights(files, file);
    const runtime = await loadTf('inference');
    if (options.device === 'cuda' && runtime.packageName !== '@tensorflow/tfjs-node-gpu') {
      throw new FkdError(
        'E_DEVICE',
        `CUDA was requested for teacher ${file}, but @tensorflow/tfjs-node-gpu is not available (TF.js runs on ${runtime.backend}). ` +
          'Install tfjs-node-gpu on a CUDA 11.2 host, convert the teacher to ONNX, or set device to cpu.',
        { path: file, option: 'device' },
      );
    }
    const model = await buildModel(runtime.tf, files, weights, file);
    try {
      const runner = new Runner(runtime.tf, model, file);
      const geometry = resolveInputGeometry(inputDims(model, file), 'nhwc', options, file);
      const numClasses = outputWidth(model) ?? (await probeClassCount(runner, geometry));
      // Pure tfjs has one process-wide backend, and loadTf('training') switches it to cpu:
      // report what is active rather than what the inference runtime asked for.
      const backend = runtime.tf.getBackend();
      return new TfjsTeacher(runner, { engine: 'tfjs', backend, ...geometry, numClasses });
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /**
   * Runs `batch` crops (float32, in `info.layout`) and returns `batch` rows of raw outputs.
   * Every tensor made here is disposed before returning, so memory stays flat across batches.
   *
   * @example
   * const logits = await teacher.infer(new Float32Array(2 * 64 * 64 * 3), 2);
   */
  infer(input: Float32Array, batch: number): Promise<Float32Array> {
    const { inputSize, numClasses, fixedBatch, layout } = this.info;
    const run = (chunk: Float32Array, rows: number) => this.#runner.run(chunk, imageShape(layout, rows, inputSize));
    return runInBatches(input, batch, 3 * inputSize * inputSize, numClasses, fixedBatch, run, this.#runner.file);
  }

  /** Frees the model's weights. */
  async dispose(): Promise<void> {
    this.#runner.model.dispose();
  }
}

/** Runs one batch through a loaded model and owns the GraphModel sync/async decision. */
class Runner {
  // Graphs with control flow (loops, conditionals) only run through executeAsync.
  #asyncGraph = false;

  constructor(
    readonly tf: Tf,
    readonly model: GraphModel | LayersModel,
    readonly file: string,
  ) {}

  async run(chunk: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    let output: Tensor;
    try {
      output = await this.#forward(this.tf.tensor4d(chunk, shape, 'float32'));
    } catch (error) {
      if (isFkdError(error)) throw error;
      throw new FkdError('E_MODEL_SHAPE', `Teacher ${this.file} failed on a ${shape.join('×')} input: ${(error as Error).message}`, {
        path: this.file,
        cause: error,
      });
    }
    try {
      const data = await output.data();
      return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    } finally {
      output.dispose();
    }
  }

  // Consumes `input`. Returns the first output as float32; every intermediate is disposed.
  async #forward(input: Tensor): Promise<Tensor> {
    const { tf, model } = this;
    try {
      if (model instanceof tf.LayersModel) {
        return tf.tidy(() => asFloat(tf, firstTensor(model.predict(input))));
      }
      const outputName = model.outputNodes[0];
      if (!this.#asyncGraph) {
        try {
          return tf.tidy(() => asFloat(tf, firstTensor(model.execute(input, outputName))));
        } catch (error) {
          if (!/executeAsync/.test((error as Error).message)) throw error;
          this.#asyncGraph = true;
        }
      }
      const result = firstTensor(await model.executeAsync(input, outputName));
      const float = asFloat(tf, result);
      if (float !== result) result.dispose();
      return float;
    } finally {
      input.dispose();
    }
  }
}

// A dynamic output width is only known after running the model once.
async function probeClassCount(runner: Runner, geometry: InputGeometry): Promise<number> {
  const batch = geometry.fixedBatch ?? 1;
  const side = geometry.inputSize;
  const rows = await runner.run(new Float32Array(batch * 3 * side * side), imageShape(geometry.layout, batch, side));
  if (rows.length === 0 || rows.length % batch !== 0) {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${runner.file} returned ${rows.length} values for a batch of ${batch}; expected one row per crop.`, {
      path: runner.file,
    });
  }
  return rows.length / batch;
}

function imageShape(layout: Layout, batch: number, side: number): [number, number, number, number] {
  return layout === 'nhwc' ? [batch, side, side, 3] : [batch, 3, side, side];
}

async function buildModel(tf: Tf, files: TfjsModelFiles, weights: ArrayBuffer, file: string): Promise<GraphModel | LayersModel> {
  // A minimal IOHandler: the artifacts are already in memory, so TF.js never touches a URL
  // or needs tfjs-node's file:// handler.
  const handler: io.IOHandler = {
    load: () => tf.io.getModelArtifactsForJSON(files.json, async (manifest) => [tf.io.getWeightSpecs(manifest), weights]),
  };
  try {
    return files.kind === 'layers' ? await tf.loadLayersModel(handler) : await tf.loadGraphModel(handler);
  } catch (error) {
    throw new FkdError(
      'E_MODEL_LOAD',
      `TF.js could not build the ${files.kind} model ${file}: ${(error as Error).message}. Re-convert the model with tensorflowjs_converter.`,
      { path: file, cause: error },
    );
  }
}

async function readWeights(files: TfjsModelFiles, file: string): Promise<ArrayBuffer> {
  const buffers: Buffer[] = [];
  for (const path of files.weightFiles) {
    try {
      buffers.push(await readFile(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new FkdError('E_MODEL_LOAD', `Weight file ${path} listed in ${file} is missing. Copy every shard named in weightsManifest next to model.json.`, {
          path,
          cause: error,
        });
      }
      throw modelFileError(error, path, 'Weight file');
    }
  }
  const total = buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);
  const expected = expectedWeightBytes(files.json.weightsManifest);
  if (expected !== null && expected !== total) {
    throw new FkdError(
      'E_MODEL_LOAD',
      `Weight files of ${file} hold ${total} bytes but its weightsManifest describes ${expected}. A shard is truncated or belongs to another model.`,
      { path: file },
    );
  }
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const buffer of buffers) {
    joined.set(buffer, offset);
    offset += buffer.byteLength;
  }
  return joined.buffer;
}

const bytesPerElement: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

// Strings have no fixed width, so a manifest holding them cannot be checked up front.
function expectedWeightBytes(manifest: io.WeightsManifestConfig): number | null {
  let total = 0;
  for (const group of manifest) {
    for (const weight of group.weights) {
      const width = bytesPerElement[weight.quantization?.dtype ?? weight.dtype];
      if (width === undefined) return null;
      total += width * weight.shape.reduce((a, b) => a * b, 1);
    }
  }
  return total;
}

function inputDims(model: GraphModel | LayersModel, file: string): (number | null)[] {
  const inputs = model.inputs;
  if (inputs.length !== 1) {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} has ${inputs.length} inputs, but fkd feeds exactly one image batch.`, { path: file });
  }
  const input = inputs[0]!;
  if (input.dtype !== undefined && input.dtype !== 'float32') {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} takes ${input.dtype} input; fkd feeds normalised float32 crops.`, { path: file });
  }
  if (input.shape === undefined) {
    throw new FkdError('E_MODEL_SHAPE', `Teacher ${file} does not declare its input shape. Re-convert it with a [batch, size, size, 3] input signature.`, { path: file });
  }
  // LayersModels mark dynamic dimensions with null, GraphModels with -1.
  return input.shape.map((dim) => (typeof dim === 'number' && dim > 0 ? dim : null));
}

function outputWidth(model: GraphModel | LayersModel): number | null {
  const shape = model.outputs[0]?.shape;
  if (shape === undefined || shape.length < 2) return null;
  let width = 1;
  for (const dim of shape.slice(1)) {
    if (typeof dim !== 'number' || dim <= 0) return null;
    width *= dim;
  }
  return width;
}

function modelKind(format: unknown, topology: Record<string, unknown>): TfjsModelKind | null {
  if (format === 'graph-model') return 'graph';
  if (format === 'layers-model') return 'layers';
  // Older converters leave `format` out; the topology's own shape still tells.
  if (Array.isArray(topology['node'])) return 'graph';
  if (typeof topology['class_name'] === 'string' || isRecord(topology['model_config'])) return 'layers';
  return null;
}

function firstTensor(result: Tensor | Tensor[] | Record<string, Tensor>): Tensor {
  if (Array.isArray(result)) return result[0]!;
  if (result instanceof Object && 'dataId' in result) return result as Tensor;
  return Object.values(result)[0]!;
}

function asFloat(tf: Tf, tensor: Tensor): Tensor {
  return tensor.dtype === 'float32' ? tensor : tf.cast(tensor, 'float32');
}

function notTfjs(file: string, reason: string, cause?: unknown): FkdError {
  return new FkdError('E_MODEL_LOAD', `Teacher ${file} is not a TF.js model.json: ${reason}. Convert the model with tensorflowjs_converter, or pass a .onnx file.`, {
    path: file,
    ...(cause === undefined ? {} : { cause }),
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
