import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs';
import { FkdError } from '../errors.js';
import type { Tf } from '../tf/types.js';

type LayerInput = SymbolicTensor | SymbolicTensor[];

/** Student architectures fkd can build from scratch. */
export type StudentName = 'tiny' | 'resnet18';

export const STUDENT_NAMES: readonly StudentName[] = ['tiny', 'resnet18'];

export interface StudentOptions {
  /** Square input side in pixels; inputs are NHWC with 3 channels. */
  imageSize: number;
  /** Width of the logits output. */
  numClasses: number;
  /** Seed of every initialiser, so two builds with the same seed start from identical weights. Default 0. */
  seed?: number;
  /** Channels of `tiny`'s first stage (then 2× and 4×). Default 8. Not accepted for `resnet18`. */
  width?: number;
}

/**
 * Builds an untrained student that maps NHWC float32 images to raw logits (no softmax,
 * because the soft cross-entropy applies log-softmax itself).
 *
 * - `tiny`: three stride-2 conv/batch-norm/ReLU stages, global average pooling and a
 *   dense head (≈6k parameters at the default width 8), for 16–64 px tests and demos on
 *   the pure-JS cpu backend (~25 images/s at 32 px there).
 * - `resnet18`: the torchvision ResNet-18 topology (BasicBlocks, 1×1 projection shortcuts
 *   where the shape changes, bias-free convolutions, PyTorch padding and batch-norm
 *   momentum), so it has the same 11.69M trainable parameters at 1000 classes.
 *
 * @example
 * const { tf } = await loadTf('training');
 * const student = createStudent(tf, 'tiny', { imageSize: 32, numClasses: 10, seed: 1 });
 * student.predict(tf.zeros([2, 32, 32, 3])); // shape [2, 10]
 */
export function createStudent(tf: Tf, name: StudentName, options: StudentOptions): LayersModel {
  expectPositiveInteger('imageSize', options.imageSize);
  expectPositiveInteger('numClasses', options.numClasses);
  const seed = options.seed ?? 0;
  expectInteger('seed', seed);
  const builder = new Builder(tf, seed);
  switch (name) {
    case 'tiny': {
      const width = options.width ?? 8;
      expectPositiveInteger('width', width);
      return buildTiny(builder, options.imageSize, options.numClasses, width);
    }
    case 'resnet18':
      if (options.width !== undefined) {
        throw new FkdError('E_USAGE', 'Expected no width for resnet18, whose widths are fixed');
      }
      return buildResnet18(builder, options.imageSize, options.numClasses);
    default:
      throw new FkdError('E_USAGE', `Expected student name ${STUDENT_NAMES.join(' or ')} but received ${String(name)}`);
  }
}

/** Throws E_USAGE unless `value` is a positive integer. */
export function expectPositiveInteger(what: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new FkdError('E_USAGE', `Expected positive integer for ${what} but received ${String(value)}`);
  }
}

function expectInteger(what: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new FkdError('E_USAGE', `Expected integer for ${what} but received ${String(value)}`);
  }
}

/**
 * Hands out a fresh initialiser seed per layer. Derived from the model seed and the layer's
 * position, so the weights depend only on (architecture, seed), never on how many models
 * were built before in the process.
 */
class Builder {
  private layerIndex = 0;

  constructor(
    readonly tf: Tf,
    private readonly seed: number,
  ) {}

  private nextSeed(): number {
    this.layerIndex += 1;
    // Odd multiplier spreads (seed, index) pairs apart; kept within int32 for seedrandom.
    return (Math.imul(this.seed, 0x9e3779b1) + Math.imul(this.layerIndex, 0x85ebca6b)) >>> 1;
  }

  conv(input: SymbolicTensor, filters: number, kernelSize: number, strides: number): SymbolicTensor {
    // PyTorch pads symmetrically; TF's 'same' pads bottom/right only when striding. Explicit
    // padding keeps feature-map sizes identical to torchvision at every input size.
    const pad = (kernelSize - 1) / 2;
    const padded = strides > 1 && pad > 0 ? this.apply(this.tf.layers.zeroPadding2d({ padding: pad }), input) : input;
    return this.apply(
      this.tf.layers.conv2d({
        filters,
        kernelSize,
        strides,
        padding: padded === input ? 'same' : 'valid',
        useBias: false,
        // He init over fan-out, as torchvision initialises ResNet convolutions.
        kernelInitializer: this.tf.initializers.varianceScaling({
          scale: 2,
          mode: 'fanOut',
          distribution: 'normal',
          seed: this.nextSeed(),
        }),
      }),
      padded,
    );
  }

  batchNorm(input: SymbolicTensor): SymbolicTensor {
    // Keras' default momentum 0.99 lags badly in short runs; 0.9 equals PyTorch's 0.1.
    return this.apply(this.tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }), input);
  }

  relu(input: SymbolicTensor): SymbolicTensor {
    return this.apply(this.tf.layers.reLU(), input);
  }

  dense(input: SymbolicTensor, units: number): SymbolicTensor {
    return this.apply(
      this.tf.layers.dense({
        units,
        kernelInitializer: this.tf.initializers.glorotUniform({ seed: this.nextSeed() }),
        biasInitializer: 'zeros',
      }),
      input,
    );
  }

  apply(layer: { apply(input: LayerInput): unknown }, input: LayerInput): SymbolicTensor {
    return layer.apply(input) as SymbolicTensor;
  }
}

function buildTiny(b: Builder, imageSize: number, numClasses: number, width: number): LayersModel {
  const { tf } = b;
  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'image' });
  let x = input;
  // Strided convolutions instead of conv + pool: a quarter of the multiply-adds, which is
  // what counts on the cpu backend, whose filter gradient is a naive loop (~150 ns/MAC).
  for (const filters of [width, width * 2, width * 4]) {
    x = b.relu(b.batchNorm(b.conv(x, filters, 3, 2)));
  }
  x = b.apply(tf.layers.globalAveragePooling2d({}), x);
  const logits = b.dense(x, numClasses);
  return tf.model({ inputs: input, outputs: logits, name: 'fkd_tiny' });
}

function buildResnet18(b: Builder, imageSize: number, numClasses: number): LayersModel {
  const { tf } = b;
  const input = tf.input({ shape: [imageSize, imageSize, 3], name: 'image' });
  let x = b.relu(b.batchNorm(b.conv(input, 64, 7, 2)));
  // Zero padding before the max-pool equals PyTorch's -inf padding here, because the
  // input has just been through a ReLU and is never negative.
  x = b.apply(tf.layers.zeroPadding2d({ padding: 1 }), x);
  x = b.apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid' }), x);
  const stages: Array<[filters: number, stride: number]> = [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ];
  for (const [filters, stride] of stages) {
    x = basicBlock(b, x, filters, stride);
    x = basicBlock(b, x, filters, 1);
  }
  x = b.apply(tf.layers.globalAveragePooling2d({}), x);
  const logits = b.dense(x, numClasses);
  return tf.model({ inputs: input, outputs: logits, name: 'fkd_resnet18' });
}

function basicBlock(b: Builder, input: SymbolicTensor, filters: number, stride: number): SymbolicTensor {
  let x = b.relu(b.batchNorm(b.conv(input, filters, 3, stride)));
  x = b.batchNorm(b.conv(x, filters, 3, 1));
  const inputChannels = input.shape[input.shape.length - 1];
  const shortcut = stride === 1 && inputChannels === filters ? input : b.batchNorm(b.conv(input, filters, 1, stride));
  return b.relu(b.apply(b.tf.layers.add(), [x, shortcut]));
}
