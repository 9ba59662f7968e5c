import type { LayersModel, Optimizer, Scalar, Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs';
import { FkdError } from '../errors.js';
import type { Batch } from '../loader/batch.js';
import { loadTf } from '../tf/runtime.js';
import type { Tf } from '../tf/types.js';
import { checkCheckpointDir, loadCheckpoint, saveCheckpoint, type OptimizerName, type TrainingState } from './checkpoint.js';
import { softCrossEntropy } from './loss.js';
import { STUDENT_NAMES, createStudent, expectPositiveInteger, type StudentName } from './students.js';
import { batchToTensors } from './tensors.js';

/** One line of training history, reported when an epoch ends. */
export interface EpochLog {
  /** 0-based epoch index, as passed to `batchesForEpoch`. */
  epoch: number;
  steps: number;
  samples: number;
  /** Sample-weighted mean soft cross-entropy over the epoch's steps. */
  loss: number;
  /** Top-1 accuracy against the folder labels, measured on the training-mode outputs. */
  accuracy: number;
  /** Samples per wall-clock second, data loading included. */
  imagesPerSec: number;
  /** Wall-clock seconds of the epoch, data loading included, checkpointing excluded. */
  seconds: number;
}

/** Progress after one optimizer step. */
export interface StepLog {
  epoch: number;
  /** Steps taken so far over all epochs, this one included. */
  step: number;
  samples: number;
  loss: number;
  accuracy: number;
}

export interface TrainStudentOptions {
  /** The TF.js to train with; default `loadTf('training')`. Must be the one that built `student`. */
  tf?: Tf;
  /** A student to build from scratch, or a model that maps NHWC images to logits. */
  student: StudentName | LayersModel;
  numClasses: number;
  imageSize: number;
  /** Total epochs: training runs epochs `startEpoch` … `epochs − 1`. */
  epochs: number;
  /** First epoch to run; default 0, or the checkpoint's epoch + 1 with `resume`. */
  startEpoch?: number;
  /** A fresh stream of batches for an epoch, e.g. `(epoch) => createLoader({ ...options, epoch })`. */
  batchesForEpoch: (epoch: number) => AsyncIterable<Batch>;
  optimizer: OptimizerName;
  learningRate: number;
  /** Decoupled weight decay on conv/dense kernels; default 0. */
  weightDecay?: number;
  /** SGD momentum; default 0.9. Only for `sgd`. */
  momentum?: number;
  /** Seed of the student's initial weights; default 0. */
  seed?: number;
  /** Save a checkpoint here after every epoch. */
  checkpointDir?: string;
  /** Continue from the checkpoint in `checkpointDir`, which must exist. */
  resume?: boolean;
  /** Stops training between steps with `E_ABORTED`. Give the loader the same signal. */
  signal?: AbortSignal;
  onLog?: (line: EpochLog) => void;
  onStep?: (line: StepLog) => void;
}

export interface TrainResult {
  model: LayersModel;
  /** One line per epoch run by this call (not those before a resume). */
  history: EpochLog[];
}

/**
 * Trains a student on FKD batches: one optimizer step per batch on the soft cross-entropy
 * between the student's logits and the stored teacher distribution. The teacher is never
 * needed here, only the labels it left in the store.
 *
 * Optimizers: `sgd` (with momentum, default 0.9) and `adamw`. TF.js has no AdamW, so it is
 * Adam (β 0.9/0.999, ε 1e-8) followed, after every step, by decoupled weight decay
 * `w ← w · (1 − lr · weightDecay)` on kernels (rank ≥ 2 weights: conv and dense), never on
 * biases or batch-norm parameters. `sgd` gets the same decoupled decay (SGDW), which
 * differs slightly from PyTorch's L2-through-momentum `weight_decay`.
 *
 * With `checkpointDir`, a checkpoint is written after every epoch; with `resume`, training
 * restarts after the saved epoch from the saved weights. Optimizer moments are not saved,
 * so a resumed run starts them from zero.
 *
 * @example
 * const { model, history } = await trainStudent({
 *   student: 'tiny', numClasses: 10, imageSize: 32, epochs: 4,
 *   batchesForEpoch: (epoch) => createLoader({ data, labels, epoch, batchSize: 64, size: 32, layout: 'nhwc' }),
 *   optimizer: 'adamw', learningRate: 1e-3, weightDecay: 0.05,
 *   checkpointDir: 'runs/tiny', onLog: (line) => console.log(line),
 * });
 */
export async function trainStudent(options: TrainStudentOptions): Promise<TrainResult> {
  const settings = validate(options);
  const { signal } = options;
  throwIfAborted(signal, 'before training started');
  if (options.checkpointDir !== undefined) await checkCheckpointDir(options.checkpointDir, { resume: options.resume === true });
  const tf = options.tf ?? (await loadTf('training')).tf;

  const start = await prepareStudent(tf, options, settings);
  const { model } = start;
  const optimizer = createOptimizer(tf, settings);
  const history: EpochLog[] = [];
  try {
    checkModelShape(model, options.imageSize, options.numClasses);
    // LayerVariable.read() returns the tf.Variable it wraps, typed only as a Tensor.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    const variables = model.trainableWeights.map((weight) => weight.read() as Variable);
    const context: StepContext = {
      tf,
      model,
      optimizer,
      variables,
      // Rank ≥ 2 picks conv and dense kernels by shape, not by layer names that TF.js uniquifies.
      decayed: settings.weightDecay > 0 ? variables.filter((variable) => variable.rank >= 2) : [],
      decayFactor: 1 - settings.learningRate * settings.weightDecay,
      steps: start.step,
    };
    for (let epoch = start.epoch; epoch < options.epochs; epoch += 1) {
      throwIfAborted(signal, `before epoch ${epoch}`);
      const line = await runEpoch(context, epoch, options);
      history.push(line);
      if (options.checkpointDir !== undefined) {
        await saveCheckpoint(options.checkpointDir, model, {
          epoch,
          step: context.steps,
          studentName: start.studentName,
          imageSize: options.imageSize,
          numClasses: options.numClasses,
          optimizer: options.optimizer,
          lr: options.learningRate,
          seed: start.seed,
        });
      }
      options.onLog?.(line);
    }
  } catch (error) {
    // A model built here is unreachable for the caller once we throw; free its weights.
    if (start.owned) model.dispose();
    throw error;
  } finally {
    disposeOptimizer(optimizer);
  }
  return { model, history };
}

interface Settings {
  optimizer: OptimizerName;
  learningRate: number;
  weightDecay: number;
  momentum: number;
  seed: number;
}

interface Start {
  model: LayersModel;
  /** True when the model was built or loaded here, so errors must dispose it. */
  owned: boolean;
  epoch: number;
  step: number;
  studentName: TrainingState['studentName'];
  seed: number;
}

interface StepContext {
  tf: Tf;
  model: LayersModel;
  optimizer: Optimizer;
  variables: Variable[];
  decayed: Variable[];
  decayFactor: number;
  /** Steps taken so far over all epochs. */
  steps: number;
}

async function runEpoch(context: StepContext, epoch: number, options: TrainStudentOptions): Promise<EpochLog> {
  const started = performance.now();
  let steps = 0;
  let samples = 0;
  let lossSum = 0;
  let correctSum = 0;
  for await (const batch of options.batchesForEpoch(epoch)) {
    throwIfAborted(options.signal, `in epoch ${epoch} after ${steps} steps`);
    checkBatch(batch, options);
    const { loss, correct } = await trainStep(context, batch);
    // One NaN makes every weight NaN: stop at the first, before a checkpoint saves the wreck.
    if (!Number.isFinite(loss)) {
      throw new FkdError(
        'E_DIVERGED',
        `The loss became ${loss} at step ${context.steps + 1} (epoch ${epoch}, its step ${steps + 1}): training diverged. Lower learningRate (now ${options.learningRate})${options.checkpointDir === undefined ? '' : `; the checkpoint in ${options.checkpointDir} is from the last finished epoch`}.`,
        { option: 'learningRate', epoch },
      );
    }
    steps += 1;
    samples += batch.size;
    lossSum += loss * batch.size;
    correctSum += correct;
    context.steps += 1;
    options.onStep?.({ epoch, step: context.steps, samples: batch.size, loss, accuracy: correct / batch.size });
  }
  if (steps === 0) {
    throw new FkdError('E_EMPTY_DATASET', `batchesForEpoch(${epoch}) yielded no batches`);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    epoch,
    steps,
    samples,
    loss: lossSum / samples,
    accuracy: correctSum / samples,
    imagesPerSec: samples / seconds,
    seconds,
  };
}

/** One optimizer step; every tensor it creates is gone when it returns. */
async function trainStep(context: StepContext, batch: Batch): Promise<{ loss: number; correct: number }> {
  const { tf, model, optimizer, variables, decayed, decayFactor } = context;
  const tensors = batchToTensors(tf, batch);
  let lossTensor: Scalar | undefined;
  let correctTensor: Scalar | undefined;
  try {
    [lossTensor, correctTensor] = tf.tidy(() => {
      let correct: Scalar | undefined;
      const loss = optimizer.minimize(
        () => {
          const logits = model.apply(tensors.xs, { training: true }) as Tensor2D;
          // Kept out of minimize's tidy so accuracy costs no second forward pass.
          correct = tf.keep(countCorrect(tf, logits, tensors.hard));
          return softCrossEntropy(tf, logits, tensors.ys);
        },
        true,
        variables,
      ) as Scalar;
      for (const variable of decayed) variable.assign(tf.mul(variable, decayFactor));
      return [loss, correct as Scalar];
    });
    const [loss, correct] = await Promise.all([lossTensor.data(), correctTensor.data()]);
    return { loss: loss[0] as number, correct: correct[0] as number };
  } finally {
    tf.dispose([tensors.xs, tensors.ys, tensors.hard]);
    if (lossTensor) lossTensor.dispose();
    if (correctTensor) correctTensor.dispose();
  }
}

function countCorrect(tf: Tf, logits: Tensor2D, hard: Tensor1D): Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), hard), 'int32')));
}

async function prepareStudent(tf: Tf, options: TrainStudentOptions, settings: Settings): Promise<Start> {
  const { student } = options;
  const studentName: TrainingState['studentName'] = typeof student === 'string' ? student : 'custom';
  if (!options.resume) {
    const { imageSize, numClasses } = options;
    const { seed } = settings;
    const owned = typeof student === 'string';
    const model = owned ? createStudent(tf, student, { imageSize, numClasses, seed }) : student;
    return { model, owned, epoch: options.startEpoch ?? 0, step: 0, studentName, seed };
  }

  const directory = options.checkpointDir as string;
  const { model: restored, state } = await loadCheckpoint(directory, { tf });
  const mismatch =
    state.imageSize !== options.imageSize
      ? `imageSize ${state.imageSize}, not ${options.imageSize}`
      : state.numClasses !== options.numClasses
        ? `numClasses ${state.numClasses}, not ${options.numClasses}`
        : state.studentName !== studentName
          ? `student ${state.studentName}, not ${studentName}`
          : undefined;
  if (mismatch) {
    restored.dispose();
    throw new FkdError('E_OPTIONS_MISMATCH', `The checkpoint in ${directory} was trained with ${mismatch}`, {
      path: directory,
    });
  }
  const common = { epoch: state.epoch + 1, step: state.step, studentName, seed: state.seed };
  if (typeof student === 'string') return { model: restored, owned: true, ...common };

  // Keep the caller's model object, so references they hold see the restored weights.
  try {
    student.setWeights(restored.getWeights());
  } catch (error) {
    throw new FkdError('E_OPTIONS_MISMATCH', `The checkpoint in ${directory} does not fit the given student`, {
      path: directory,
      cause: error,
    });
  } finally {
    restored.dispose();
  }
  return { model: student, owned: false, ...common };
}

function createOptimizer(tf: Tf, settings: Settings): Optimizer {
  // ε as in PyTorch; TF.js would otherwise take the backend's epsilon (1e-7).
  if (settings.optimizer === 'adamw') return tf.train.adam(settings.learningRate, 0.9, 0.999, 1e-8);
  const { learningRate, momentum } = settings;
  return momentum > 0 ? tf.train.momentum(learningRate, momentum) : tf.train.sgd(learningRate);
}

function disposeOptimizer(optimizer: Optimizer): void {
  optimizer.dispose();
  // tfjs 4.22 MomentumOptimizer.dispose() forgets the −lr scalar its SGD base keeps in
  // `c`, leaking one tensor per run; free it ourselves if it is still alive.
  const learningRateScalar = (optimizer as unknown as { c?: Scalar }).c;
  if (learningRateScalar && !learningRateScalar.isDisposed) learningRateScalar.dispose();
}

function checkModelShape(model: LayersModel, imageSize: number, numClasses: number): void {
  const input = model.inputs.length === 1 ? model.inputs[0]?.shape : undefined;
  const output = model.outputs.length === 1 ? model.outputs[0]?.shape : undefined;
  const inputOk = input?.length === 4 && input[1] === imageSize && input[2] === imageSize && input[3] === 3;
  const outputOk = output?.length === 2 && output[1] === numClasses;
  if (!inputOk || !outputOk) {
    throw new FkdError(
      'E_MODEL_SHAPE',
      `Expected a student from [batch, ${imageSize}, ${imageSize}, 3] to [batch, ${numClasses}] but received ` +
        `${JSON.stringify(model.inputs.map((tensor) => tensor.shape))} to ${JSON.stringify(model.outputs.map((tensor) => tensor.shape))}`,
    );
  }
}

function checkBatch(batch: Batch, options: TrainStudentOptions): void {
  if (batch.imageSize !== options.imageSize) {
    throw new FkdError('E_MODEL_SHAPE', `Expected ${options.imageSize} px crops but received a batch of ${batch.imageSize} px`);
  }
  if (batch.targets.numClasses !== options.numClasses) {
    throw new FkdError(
      'E_MODEL_SHAPE',
      `Expected targets over ${options.numClasses} classes but received a batch over ${batch.targets.numClasses}`,
    );
  }
}

function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) {
    throw new FkdError('E_ABORTED', `Training aborted ${where}`, { cause: signal.reason });
  }
}

function validate(options: TrainStudentOptions): Settings {
  const { student } = options;
  if (typeof student === 'string' ? !STUDENT_NAMES.includes(student) : typeof student?.apply !== 'function') {
    throw new FkdError('E_USAGE', `Expected student ${STUDENT_NAMES.join(', ')} or a LayersModel but received ${typeof student === 'string' ? JSON.stringify(student) : typeof student}`);
  }
  expectPositiveInteger('numClasses', options.numClasses);
  expectPositiveInteger('imageSize', options.imageSize);
  expectPositiveInteger('epochs', options.epochs);
  if (options.startEpoch !== undefined && !(Number.isInteger(options.startEpoch) && options.startEpoch >= 0)) {
    throw new FkdError('E_USAGE', `Expected non-negative integer for startEpoch but received ${String(options.startEpoch)}`);
  }
  if (typeof options.batchesForEpoch !== 'function') {
    throw new FkdError('E_USAGE', 'Expected a function for batchesForEpoch');
  }
  if (options.optimizer !== 'sgd' && options.optimizer !== 'adamw') {
    throw new FkdError('E_USAGE', `Expected optimizer sgd or adamw but received ${String(options.optimizer)}`);
  }
  const { learningRate } = options;
  if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate <= 0) {
    throw new FkdError('E_USAGE', `Expected positive number for learningRate but received ${String(learningRate)}`);
  }
  const weightDecay = options.weightDecay ?? 0;
  if (!Number.isFinite(weightDecay) || weightDecay < 0 || learningRate * weightDecay >= 1) {
    throw new FkdError('E_USAGE', `Expected weightDecay ≥ 0 with learningRate · weightDecay < 1 but received ${String(weightDecay)}`);
  }
  if (options.momentum !== undefined && options.optimizer !== 'sgd') {
    throw new FkdError('E_USAGE', 'Expected no momentum for adamw, whose β1 is fixed at 0.9');
  }
  const momentum = options.momentum ?? 0.9;
  if (!Number.isFinite(momentum) || momentum < 0 || momentum >= 1) {
    throw new FkdError('E_USAGE', `Expected momentum in [0, 1) but received ${String(momentum)}`);
  }
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) {
    throw new FkdError('E_USAGE', `Expected integer for seed but received ${String(seed)}`);
  }
  if (options.resume && options.checkpointDir === undefined) {
    throw new FkdError('E_USAGE', 'Expected checkpointDir with resume');
  }
  if (options.resume && options.startEpoch !== undefined) {
    throw new FkdError('E_USAGE', 'Expected either resume or startEpoch, not both: resume starts after the saved epoch');
  }
  return { optimizer: options.optimizer, learningRate, weightDecay, momentum, seed };
}
