// `fkd/train`: students, the soft cross-entropy, the training loop, checkpoints and `distill`.

export { createStudent, STUDENT_NAMES, type StudentName, type StudentOptions } from './students.js';
export { softCrossEntropy } from './loss.js';
export { batchToTensors, toTfDataset, type BatchTensors, type TrainingPair } from './tensors.js';
export {
  loadCheckpoint,
  saveCheckpoint,
  MODEL_FILE,
  STATE_FILE,
  WEIGHTS_FILE,
  type Checkpoint,
  type OptimizerName,
  type TrainingState,
} from './checkpoint.js';
export { trainStudent, type EpochLog, type StepLog, type TrainResult, type TrainStudentOptions } from './loop.js';
export { distill, type DistillOptions } from './distill.js';
export { loadTf, type TfRuntime } from '../tf/runtime.js';
export type { Tf } from '../tf/types.js';
