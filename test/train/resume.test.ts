import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import type { Batch } from '../../src/loader/batch.js';
import { loadTf } from '../../src/tf/runtime.js';
import type { Tf } from '../../src/tf/types.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { trainStudent, type TrainStudentOptions } from '../../src/train/loop.js';
import { syntheticBatches } from '../helpers/batches.js';

let tf: Tf;
let root: string;
beforeAll(async () => {
  ({ tf } = await loadTf('training'));
  root = await mkdtemp(join(tmpdir(), 'fkd-resume-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Records which epochs were asked for, as a loader would see it. */
function recordingOptions(epochsSeen: number[], overrides: Partial<TrainStudentOptions>): TrainStudentOptions {
  return {
    tf,
    student: 'tiny',
    numClasses: 4,
    imageSize: 8,
    epochs: 2,
    batchesForEpoch: (epoch) => {
      epochsSeen.push(epoch);
      return syntheticBatches(3, { size: 4, imageSize: 8, seed: epoch + 1 });
    },
    optimizer: 'adamw',
    learningRate: 0.01,
    ...overrides,
  };
}

function predict(model: LayersModel): number[] {
  return tf.tidy(() => {
    const input = tf.tensor4d(Float32Array.from({ length: 8 * 8 * 3 }, (_, index) => Math.cos(index)), [1, 8, 8, 3]);
    return Array.from((model.predict(input) as Tensor).dataSync());
  });
}

describe('checkpoints and resume', () => {
  it('checkpoints every epoch and resumes at the next epoch with the saved weights', async () => {
    const checkpointDir = join(root, 'run');
    const seen: number[] = [];
    const first = await trainStudent(recordingOptions(seen, { checkpointDir, seed: 4 }));
    expect(seen).toEqual([0, 1]);
    const saved = await loadCheckpoint(checkpointDir, { tf });
    expect(saved.state).toEqual({
      epoch: 1,
      step: 6,
      studentName: 'tiny',
      imageSize: 8,
      numClasses: 4,
      optimizer: 'adamw',
      lr: 0.01,
      seed: 4,
    });
    expect(predict(saved.model)).toEqual(predict(first.model));
    saved.model.dispose();

    // Nothing left to run: the resumed model is exactly the saved one.
    const idle = await trainStudent(recordingOptions(seen, { checkpointDir, resume: true }));
    expect(idle.history).toEqual([]);
    expect(predict(idle.model)).toEqual(predict(first.model));
    idle.model.dispose();
    first.model.dispose();

    seen.length = 0;
    const resumed = await trainStudent(recordingOptions(seen, { checkpointDir, resume: true, epochs: 3 }));
    expect(seen).toEqual([2]);
    expect(resumed.history.map((line) => line.epoch)).toEqual([2]);
    const state = JSON.parse(await readFile(join(checkpointDir, 'state.json'), 'utf8'));
    expect(state).toMatchObject({ epoch: 2, step: 9, seed: 4 });
    resumed.model.dispose();
  });

  it('refuses to resume from a checkpoint that does not match', async () => {
    const checkpointDir = join(root, 'mismatch');
    const first = await trainStudent(recordingOptions([], { checkpointDir, epochs: 1 }));
    first.model.dispose();
    await expect(
      trainStudent(recordingOptions([], { checkpointDir, resume: true, numClasses: 5 })),
    ).rejects.toMatchObject({ code: 'E_OPTIONS_MISMATCH' });
    await expect(
      trainStudent(recordingOptions([], { checkpointDir: join(root, 'absent'), resume: true })),
    ).rejects.toMatchObject({ code: 'E_IO' });
  });

  it('stops between steps on abort, closes the batch stream and frees its tensors', async () => {
    const controller = new AbortController();
    let closed = false;
    async function* batches(): AsyncGenerator<Batch> {
      try {
        yield* syntheticBatches(10, { size: 4, imageSize: 8 });
      } finally {
        closed = true;
      }
    }
    const before = tf.memory().numTensors;
    let steps = 0;
    const error = await trainStudent(
      recordingOptions([], {
        batchesForEpoch: batches,
        signal: controller.signal,
        onStep: () => {
          steps += 1;
          if (steps === 2) controller.abort(new Error('user pressed ctrl-c'));
        },
      }),
    ).catch((caught: unknown) => caught);
    expect(isFkdError(error, 'E_ABORTED')).toBe(true);
    expect(steps).toBe(2);
    expect(closed).toBe(true);
    expect(tf.memory().numTensors).toBe(before);

    await expect(trainStudent(recordingOptions([], { signal: AbortSignal.abort() }))).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
  });
});
