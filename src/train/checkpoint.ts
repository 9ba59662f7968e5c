import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { LayersModel, io } from '@tensorflow/tfjs';
import { FkdError } from '../errors.js';
import { loadTf } from '../tf/runtime.js';
import type { Tf } from '../tf/types.js';
import type { StudentName } from './students.js';
import { ioAdvice } from '../io/io-error.js';
import { sha256Hex } from '../io/hash.js';

/** Optimizers the training loop offers. */
export type OptimizerName = 'sgd' | 'adamw';

/**
 * Where training stands after a completed epoch. Optimizer moments are deliberately not
 * part of it: a resumed run rebuilds its optimizer from `optimizer` and `lr`, which keeps
 * checkpoints small and readable by any TF.js build.
 */
export interface TrainingState {
  /** Last completed epoch (0-based). */
  epoch: number;
  /** Optimizer steps taken so far, over all epochs. */
  step: number;
  /** `custom` when the caller supplied its own model. */
  studentName: StudentName | 'custom';
  imageSize: number;
  numClasses: number;
  optimizer: OptimizerName;
  lr: number;
  seed: number;
}

/** A restored checkpoint: the student, with its trained weights, and where training stood. */
export interface Checkpoint {
  model: LayersModel;
  state: TrainingState;
}

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
export const STATE_FILE = 'state.json';

const FORMAT = 'fkd-student-checkpoint';
const VERSION = 1;

/** What `state.json` holds on disk: the state plus the hashes that tie the three files together. */
interface StateFile extends TrainingState {
  format: typeof FORMAT;
  version: typeof VERSION;
  /** SHA-256 (hex) of model.json and weights.bin as written with this state. */
  sha256: { [MODEL_FILE]: string; [WEIGHTS_FILE]: string };
}

/** Where the previous checkpoint waits while a new one is switched in (and where a kill between the two renames leaves it). */
const PREVIOUS_SUFFIX = '.previous';

/**
 * Saves a student and its training state into `directory` (created if needed), replacing
 * any earlier checkpoint there.
 *
 * `model.json` + `weights.bin` are the standard TF.js layers-model files (loadable with
 * `tf.loadLayersModel('file://…/model.json')` under tfjs-node), but written by our own
 * IOHandler, because the `file://` handler exists only in tfjs-node, which may be absent.
 * The three files are written whole, and flushed, into a new folder beside `directory`, which
 * then takes its place: the old folder is renamed to `directory.previous`, the new one to
 * `directory`, and the old one removed. A kill at any point leaves a whole checkpoint: the
 * old folder, the new one, or (between the two renames) only `directory.previous`, which
 * {@link loadCheckpoint} reads and the next save finishes switching. `state.json` records
 * the hashes of the other two files, so an edited or torn file is still reported.
 *
 * @example
 * await saveCheckpoint('runs/tiny', model, {
 *   epoch: 3, step: 400, studentName: 'tiny', imageSize: 32, numClasses: 10,
 *   optimizer: 'adamw', lr: 1e-3, seed: 0,
 * });
 */
export async function saveCheckpoint(directory: string, model: LayersModel, state: TrainingState): Promise<void> {
  const problem = describeStateProblem(state);
  if (problem) throw new FkdError('E_USAGE', `Invalid training state: ${problem}`);
  await mkdir(directory, { recursive: true });

  let modelJson: Buffer | undefined;
  let weights: Buffer | undefined;
  const handler: io.IOHandler = {
    save: async (artifacts) => {
      weights = Buffer.concat(toArrayBuffers(artifacts.weightData).map((buffer) => Buffer.from(buffer)));
      const manifest: io.ModelJSON = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? 'fkd',
        convertedBy: null,
        modelTopology: artifacts.modelTopology ?? {},
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      modelJson = Buffer.from(JSON.stringify(manifest));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  };
  await model.save(handler);
  if (!modelJson || !weights) {
    throw new FkdError('E_IO', 'TF.js returned no model artifacts to save', { path: directory });
  }

  const stateFile: StateFile = {
    format: FORMAT,
    version: VERSION,
    ...pickState(state),
    sha256: { [MODEL_FILE]: sha256Hex(modelJson), [WEIGHTS_FILE]: sha256Hex(weights) },
  };
  const next = join(dirname(directory), `.${basename(directory)}.next-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(next, { recursive: true });
    await writeCheckpointFile(join(next, WEIGHTS_FILE), weights, directory);
    await writeCheckpointFile(join(next, MODEL_FILE), modelJson, directory);
    await writeCheckpointFile(join(next, STATE_FILE), Buffer.from(`${JSON.stringify(stateFile, null, 2)}\n`), directory);
    await switchTo(next, directory);
  } catch (error) {
    await rm(next, { recursive: true, force: true });
    if (error instanceof FkdError) throw error;
    throw new FkdError('E_IO', `Could not write the checkpoint in ${directory}: ${messageOf(error)}. ${checkpointAdvice(error, directory)}`, { path: directory, cause: error });
  }
}

/** Puts the whole folder `next` in the place of `directory`, keeping a whole checkpoint at every step. */
async function switchTo(next: string, directory: string): Promise<void> {
  const previous = directory + PREVIOUS_SUFFIX;
  if (await exists(directory)) {
    // `directory` is whole here, so a `.previous` left by an earlier kill is stale.
    await rm(previous, { recursive: true, force: true });
    await rename(directory, previous);
  }
  await rename(next, directory);
  await rm(previous, { recursive: true, force: true });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * The folder a checkpoint is read from: `directory`, or `directory.previous` when a kill struck
 * between the two renames of a save and left only that.
 */
async function checkpointFolder(directory: string): Promise<string> {
  if (!(await exists(directory)) && (await exists(join(directory + PREVIOUS_SUFFIX, STATE_FILE)))) return directory + PREVIOUS_SUFFIX;
  return directory;
}

/**
 * Refuses a checkpoint location fkd cannot use, before any training: an `s3://` URL (checkpoints
 * are a local folder), a path that is not a folder, and, unless `resume`, a folder that holds a
 * checkpoint already, which a new run would overwrite.
 *
 * @example
 * await checkCheckpointDir('runs/tiny'); // fine if missing or a folder without a checkpoint
 * await checkCheckpointDir('runs/tiny', { resume: true }); // fine over a checkpoint
 */
export async function checkCheckpointDir(directory: string, options: { resume?: boolean } = {}): Promise<void> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(directory)) {
    throw new FkdError('E_USAGE', `Checkpoints (--checkpoint, checkpointDir) are written to a local folder, but ${JSON.stringify(directory.slice(0, 200))} is a URL: name a local folder (and copy it to object storage afterwards if you need to).`, { path: directory });
  }
  let info;
  try {
    info = await stat(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new FkdError('E_IO', `Cannot use ${directory} for checkpoints (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`, { path: directory, cause: error });
    }
  }
  if (info && !info.isDirectory()) {
    throw new FkdError('E_USAGE', `The checkpoint folder (checkpointDir) ${directory} exists and is not a folder. Checkpoints are a folder (${MODEL_FILE}, ${WEIGHTS_FILE}, ${STATE_FILE}), created if missing: name a folder, or a path that does not exist yet.`, { path: directory, option: 'checkpointDir' });
  }
  if (!options.resume && (await exists(join(await checkpointFolder(directory), STATE_FILE)))) {
    throw new FkdError('E_USAGE', `${directory} holds a checkpoint already, which a new run would overwrite. To continue from it, add --resume (resume: true); to start over, name a new folder (or delete this one).`, { path: directory });
  }
}

/**
 * Restores a checkpoint written by {@link saveCheckpoint}.
 *
 * Errors: a missing file is `E_IO`; an unreadable, inconsistent or unloadable one is
 * `E_MODEL_LOAD`. Both carry the offending file in `error.path`.
 *
 * @example
 * const { model, state } = await loadCheckpoint('runs/tiny');
 * console.log(`resuming after epoch ${state.epoch}`);
 */
export async function loadCheckpoint(directory: string, options: { tf?: Tf } = {}): Promise<Checkpoint> {
  const tf = options.tf ?? (await loadTf('training')).tf;
  const folder = await checkpointFolder(directory);
  const statePath = join(folder, STATE_FILE);
  const modelPath = join(folder, MODEL_FILE);
  const weightsPath = join(folder, WEIGHTS_FILE);

  const stateFile = parseJson(await readCheckpointFile(statePath), statePath);
  const problem = describeStateFileProblem(stateFile);
  if (problem) throw corrupt(statePath, problem);
  const state = stateFile as StateFile;

  const modelJson = await readCheckpointFile(modelPath);
  const weights = await readCheckpointFile(weightsPath);
  if (sha256Hex(modelJson) !== state.sha256[MODEL_FILE]) {
    throw corrupt(modelPath, 'its SHA-256 does not match state.json (torn write or edited file)');
  }
  if (sha256Hex(weights) !== state.sha256[WEIGHTS_FILE]) {
    throw corrupt(weightsPath, 'its SHA-256 does not match state.json (torn write or edited file)');
  }

  const manifest = parseJson(modelJson, modelPath) as Partial<io.ModelJSON> | null;
  if (!manifest || typeof manifest.modelTopology !== 'object' || !Array.isArray(manifest.weightsManifest)) {
    throw corrupt(modelPath, 'it is not a TF.js layers model.json');
  }
  const paths = manifest.weightsManifest.flatMap((group) => group.paths);
  if (paths.length !== 1 || paths[0] !== WEIGHTS_FILE) {
    throw corrupt(modelPath, `expected its weights in ${WEIGHTS_FILE} alone but it lists ${JSON.stringify(paths)}`);
  }
  const artifacts: io.ModelArtifacts = {
    modelTopology: manifest.modelTopology,
    weightSpecs: manifest.weightsManifest.flatMap((group) => group.weights),
    // A copy into its own ArrayBuffer: a Buffer may be a view into a larger shared pool.
    weightData: new Uint8Array(weights).buffer,
  };
  if (manifest.format !== undefined) artifacts.format = manifest.format;

  let model: LayersModel;
  try {
    model = await tf.loadLayersModel({ load: async () => artifacts });
  } catch (error) {
    throw new FkdError('E_MODEL_LOAD', `Could not rebuild the student from ${modelPath}: ${messageOf(error)}`, {
      path: modelPath,
      cause: error,
    });
  }
  return { model, state: pickState(state) };
}

function pickState(state: TrainingState): TrainingState {
  const { epoch, step, studentName, imageSize, numClasses, optimizer, lr, seed } = state;
  return { epoch, step, studentName, imageSize, numClasses, optimizer, lr, seed };
}

function describeStateFileProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'it is not a JSON object';
  const file = value as Partial<StateFile>;
  if (file.format !== FORMAT) return `expected format "${FORMAT}" but found ${JSON.stringify(file.format)}`;
  if (file.version !== VERSION) return `expected version ${VERSION} but found ${JSON.stringify(file.version)}`;
  const hashes = file.sha256 as Record<string, unknown> | undefined;
  if (typeof hashes?.[MODEL_FILE] !== 'string' || typeof hashes[WEIGHTS_FILE] !== 'string') {
    return 'it lacks the SHA-256 of model.json and weights.bin';
  }
  return describeStateProblem(file);
}

function describeStateProblem(state: Partial<TrainingState>): string | undefined {
  const integers: Array<[keyof TrainingState, number]> = [
    ['epoch', 0],
    ['step', 0],
    ['imageSize', 1],
    ['numClasses', 1],
  ];
  for (const [key, minimum] of integers) {
    const value = state[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
      return `expected integer ≥ ${minimum} for ${key} but found ${JSON.stringify(value)}`;
    }
  }
  if (typeof state.seed !== 'number' || !Number.isSafeInteger(state.seed)) {
    return `expected integer for seed but found ${JSON.stringify(state.seed)}`;
  }
  if (typeof state.lr !== 'number' || !(state.lr > 0) || !Number.isFinite(state.lr)) {
    return `expected positive number for lr but found ${JSON.stringify(state.lr)}`;
  }
  if (state.optimizer !== 'sgd' && state.optimizer !== 'adamw') {
    return `expected optimizer "sgd" or "adamw" but found ${JSON.stringify(state.optimizer)}`;
  }
  if (!['tiny', 'resnet18', 'custom'].includes(state.studentName as string)) {
    return `expected studentName "tiny", "resnet18" or "custom" but found ${JSON.stringify(state.studentName)}`;
  }
  return undefined;
}

async function readCheckpointFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'is missing' : `could not be read (${code ?? messageOf(error)})`;
    throw new FkdError('E_IO', `Checkpoint file ${path} ${what}`, { path, cause: error });
  }
}

function parseJson(bytes: Buffer, path: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new FkdError('E_MODEL_LOAD', `Checkpoint file ${path} is not valid JSON`, { path, cause: error });
  }
}

function corrupt(path: string, problem: string): FkdError {
  return new FkdError('E_MODEL_LOAD', `Checkpoint file ${path} is unusable: ${problem}`, { path });
}

/** One file of a checkpoint being built (its folder is not in place yet), written whole and flushed. */
async function writeCheckpointFile(path: string, data: Buffer, directory: string): Promise<void> {
  try {
    const handle = await open(path, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new FkdError('E_IO', `Could not write checkpoint file ${path}: ${messageOf(error)}. ${checkpointAdvice(error, directory)}`, { path, cause: error });
  }
}

/** What to do after a failed save: never "re-run the same command", which would start over. */
function checkpointAdvice(error: unknown, directory: string): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const kept = `The checkpoint in ${directory} from the last finished epoch is kept: continue from it with --resume (resume: true).`;
  return code === 'ENOSPC' || code === 'EDQUOT' ? `The disk is full (${code}): free space. ${kept}` : `${ioAdvice(error)} ${kept}`;
}

function toArrayBuffers(data: io.WeightData | undefined): ArrayBuffer[] {
  if (data === undefined) return [];
  return Array.isArray(data) ? data : [data];
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
