import { FkdError } from '../errors.js';
import { openDataset } from '../webdataset/open.js';
import { createLoader, type LoaderOptions, type LoaderStats } from '../loader/loader.js';
import { openEnsemble } from '../store/ensemble.js';
import { openLabels, type LabelSet, type OpenLabelsOptions } from '../store/labels.js';
import { loadTf, type TfRuntime } from '../tf/runtime.js';
import type { OptimizerName } from './checkpoint.js';
import { trainStudent, type EpochLog, type StepLog, type TrainResult } from './loop.js';
import { LOADER_SCHEMA } from '../loader/options.js';
import { checkOptions } from '../options/schema.js';
import { TRAIN_DEFAULTS, validateTrainOptions } from './options.js';
import type { StudentName } from './students.js';

export interface DistillOptions {
  /** The ImageFolder tree the labels were made from. */
  data: string;
  /**
   * A label store location, one already opened with `openLabels`, or several locations of the
   * same crops labelled by different teachers (`fkd label --like`), averaged by `teacherWeights`.
   */
  labels: string | string[] | LabelSet;
  /** With several `labels`: one weight each (default equal), normalised to sum to 1. */
  teacherWeights?: number[];
  /** Options for opening `labels` when it is a location (cache, S3 endpoint). */
  open?: OpenLabelsOptions;
  epochs: number;
  student?: StudentName;
  /** Crops per batch (default 64). */
  batchSize?: number;
  /** Student input side (default 224). */
  size?: number;
  optimizer?: OptimizerName;
  learningRate?: number;
  weightDecay?: number;
  checkpointDir?: string;
  resume?: boolean;
  seed?: number;
  /**
   * Pixels the loader hands the trainer: `uint8` (normalised on the device, 4× less memory
   * traffic in the loader) or `float32` (normalised by the render threads). Default: what
   * {@link trainingDtype} picks for the TF.js runtime in use.
   */
  dtype?: 'float32' | 'uint8';
  /** Loader settings passed through: workers, prefetch, rank/worldSize, onError, temperature... */
  loader?: Partial<Omit<LoaderOptions, 'data' | 'labels' | 'epoch' | 'batchSize' | 'size' | 'layout' | 'dtype' | 'signal'>>;
  signal?: AbortSignal;
  onLog?: (line: EpochLog & { loader: LoaderStats }) => void;
  onStep?: (line: StepLog) => void;
}

/**
 * Trains a TF.js student on stored soft labels: for student epoch e the loader replays label
 * epoch e mod E. The teacher is never loaded.
 *
 * @example
 * const { history } = await distill({ data: 'train', labels: './labels', epochs: 2, student: 'tiny', size: 64 });
 */
export async function distill(options: DistillOptions): Promise<TrainResult> {
  validateTrainOptions({ ...options, ...options.loader });
  checkOptions(LOADER_SCHEMA, options.loader ?? {}, 'api');
  if (options.teacherWeights !== undefined && !Array.isArray(options.labels)) {
    throw new FkdError('E_USAGE', 'teacherWeights needs labels to be a list of stores (one teacher each); a single store has one teacher.');
  }
  const labels =
    typeof options.labels === 'string'
      ? await openLabels(options.labels, options.open)
      : Array.isArray(options.labels)
        ? await openEnsemble(options.labels, { ...options.open, ...(options.teacherWeights ? { weights: options.teacherWeights } : {}) })
        : options.labels;
  // Scan once; every epoch's loader reuses it.
  const dataset = await openDataset(options.data);
  const size = options.size ?? TRAIN_DEFAULTS.size;
  const dtype = options.dtype ?? trainingDtype(await loadTf('training'));
  const loaders = new Map<number, ReturnType<typeof createLoader>>();
  const loaderFor = (epoch: number) => {
    const loader = createLoader({
      ...options.loader,
      data: dataset,
      labels,
      epoch,
      batchSize: options.batchSize ?? TRAIN_DEFAULTS.batchSize,
      size,
      layout: 'nhwc',
      dtype,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    loaders.set(epoch, loader);
    return loader;
  };
  return trainStudent({
    student: options.student ?? TRAIN_DEFAULTS.student,
    numClasses: labels.numClasses,
    imageSize: size,
    epochs: options.epochs,
    batchesForEpoch: loaderFor,
    optimizer: options.optimizer ?? TRAIN_DEFAULTS.optimizer,
    learningRate: options.learningRate ?? TRAIN_DEFAULTS.learningRate,
    ...(options.weightDecay === undefined ? {} : { weightDecay: options.weightDecay }),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.checkpointDir === undefined ? {} : { checkpointDir: options.checkpointDir }),
    ...(options.resume === undefined ? {} : { resume: options.resume }),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
    onLog: (line) => options.onLog?.({ ...line, loader: loaders.get(line.epoch)!.stats }),
  });
}

/**
 * The loader dtype `fkd train` uses with a TF.js runtime: `uint8` on tfjs-node-gpu, where the
 * normalisation runs on the GPU and the render threads write a quarter of the bytes; `float32`
 * on the CPU backends, where normalising on the host in the render threads is cheaper than a
 * separate pass over the batch.
 *
 * @example
 * trainingDtype(await loadTf('training')); // 'float32' without a GPU build
 */
export function trainingDtype(runtime: Pick<TfRuntime, 'packageName'>): 'float32' | 'uint8' {
  return runtime.packageName === '@tensorflow/tfjs-node-gpu' ? 'uint8' : 'float32';
}
