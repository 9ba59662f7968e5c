import type { Layout } from '../crop/tensor.js';

/** What a loaded teacher is, as recorded in the manifest and printed to the user. */
export interface TeacherInfo {
  engine: 'onnx' | 'tfjs';
  /** Execution provider or TF.js backend actually in use, e.g. `cpu`, `cuda`, `tensorflow`, `wasm`. */
  backend: string;
  /** Square input side in pixels. */
  inputSize: number;
  layout: Layout;
  /** Width of the model's output, which must equal the dataset's class count. */
  numClasses: number;
  /** A batch size the model insists on, or null when the batch dimension is dynamic. */
  fixedBatch: number | null;
}

/**
 * A teacher turns a batch of normalised float32 crops (in `info.layout`) into one row of
 * `info.numClasses` raw outputs per crop. Interpreting them (logits or probabilities,
 * temperature) is the label codec's job, not the engine's.
 */
export interface TeacherEngine {
  readonly info: TeacherInfo;
  infer(input: Float32Array, batch: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export type Device = 'cpu' | 'cuda';

export interface TeacherOptions {
  /** Input side to use when the model does not fix it. */
  size?: number;
  device?: Device;
  /** Intra-op threads for engines that take a number. */
  threads?: number;
}
