import type { Tensor } from '@tensorflow/tfjs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../../src/loader/batch.js';
import { loadTf } from '../../src/tf/runtime.js';
import type { Tf } from '../../src/tf/types.js';
import { trainStudent, type StepLog, type TrainStudentOptions } from '../../src/train/loop.js';
import { createStudent } from '../../src/train/students.js';
import { syntheticBatch, syntheticBatches } from '../helpers/batches.js';

let tf: Tf;
beforeAll(async () => {
  ({ tf } = await loadTf('training'));
});

function base(overrides: Partial<TrainStudentOptions> = {}): TrainStudentOptions {
  return {
    tf,
    student: 'tiny',
    numClasses: 4,
    imageSize: 8,
    epochs: 1,
    batchesForEpoch: (epoch) => syntheticBatches(2, { size: 4, imageSize: 8, seed: epoch + 1 }),
    optimizer: 'adamw',
    learningRate: 0.01,
    ...overrides,
  };
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

describe('trainStudent', () => {
  it('lowers the soft cross-entropy of tiny over 30 steps', async () => {
    const steps: StepLog[] = [];
    const started = performance.now();
    const { model, history } = await trainStudent(
      base({
        imageSize: 16,
        batchesForEpoch: () => syntheticBatches(30, { size: 16, imageSize: 16, peak: 0.95, seed: 3 }),
        learningRate: 0.01,
        weightDecay: 0.01,
        onStep: (line) => steps.push(line),
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`tiny 16 px, batch 16, cpu: ${(30 / seconds).toFixed(2)} steps/s`);
    const losses = steps.map((line) => line.loss);
    expect(losses).toHaveLength(30);
    expect(mean(losses.slice(-5))).toBeLessThan(0.7 * mean(losses.slice(0, 5)));
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ epoch: 0, steps: 30, samples: 480 });
    expect(history[0]!.loss).toBeCloseTo(mean(losses), 5);
    expect(mean(steps.slice(-5).map((line) => line.accuracy))).toBeGreaterThan(0.8);
    expect(history[0]!.imagesPerSec).toBeGreaterThan(0);
    model.dispose();
  });

  it('keeps the tensor count flat across steps and epochs', async () => {
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    const { model } = await trainStudent(
      base({
        epochs: 2,
        batchesForEpoch: (epoch) => syntheticBatches(4, { size: 4, imageSize: 8, seed: epoch + 1 }),
        optimizer: 'sgd',
        weightDecay: 1e-4,
        onStep: () => counts.push(tf.memory().numTensors),
      }),
    );
    // Momentum slots appear on the first step; from then on nothing may accumulate.
    expect(new Set(counts.slice(1)).size).toBe(1);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('applies decoupled weight decay to kernels only', async () => {
    const batch = syntheticBatch({ size: 4, imageSize: 8, seed: 5 });
    const trainOnce = async (weightDecay: number) => {
      const { model } = await trainStudent(
        base({
          student: createStudent(tf, 'tiny', { imageSize: 8, numClasses: 4, seed: 2 }),
          batchesForEpoch: async function* () {
            yield batch;
          },
          learningRate: 0.1,
          weightDecay,
        }),
      );
      const weights = model.trainableWeights.map((weight) => ({
        rank: weight.shape.length,
        values: Array.from(weight.read().dataSync()),
      }));
      model.dispose();
      return weights;
    };
    const plain = await trainOnce(0);
    const decayed = await trainOnce(0.5);
    plain.forEach((weight, index) => {
      const factor = weight.rank >= 2 ? 1 - 0.1 * 0.5 : 1;
      decayed[index]!.values.forEach((value, at) => expect(value).toBeCloseTo(weight.values[at]! * factor, 6));
    });
  });

  it('accepts a custom LayersModel and checks its shape', async () => {
    const custom = createStudent(tf, 'tiny', { imageSize: 8, numClasses: 4, width: 4 });
    const { model, history } = await trainStudent(base({ student: custom }));
    expect(model).toBe(custom);
    expect(history).toHaveLength(1);
    await expect(trainStudent(base({ student: custom, numClasses: 5 }))).rejects.toMatchObject({ code: 'E_MODEL_SHAPE' });
    custom.dispose();
  });

  it('rejects bad options eagerly and batches that do not fit', async () => {
    await expect(trainStudent(base({ epochs: 0 }))).rejects.toThrow('Expected positive integer for epochs but received 0');
    await expect(trainStudent(base({ learningRate: -1 }))).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(trainStudent(base({ momentum: 0.9 }))).rejects.toThrow(/momentum/);
    await expect(trainStudent(base({ resume: true }))).rejects.toThrow(/checkpointDir/);
    await expect(trainStudent(base({ student: 'vgg' as 'tiny' }))).rejects.toMatchObject({ code: 'E_USAGE' });

    const before = tf.memory().numTensors;
    await expect(
      trainStudent(base({ batchesForEpoch: () => syntheticBatches(1, { size: 2, imageSize: 16 }) })),
    ).rejects.toMatchObject({ code: 'E_MODEL_SHAPE' });
    await expect(
      trainStudent(base({ batchesForEpoch: () => syntheticBatches(1, { size: 2, imageSize: 8, numClasses: 5 }) })),
    ).rejects.toMatchObject({ code: 'E_MODEL_SHAPE' });
    const empty = async function* (): AsyncGenerator<Batch> {};
    await expect(trainStudent(base({ batchesForEpoch: empty }))).rejects.toMatchObject({ code: 'E_EMPTY_DATASET' });
    // Students built inside trainStudent are disposed when it fails.
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops at the first non-finite loss with E_DIVERGED instead of training on NaN', async () => {
    const steps: StepLog[] = [];
    const error = await trainStudent(base({ learningRate: 1e308, batchesForEpoch: () => syntheticBatches(6, { size: 4, imageSize: 8, seed: 1 }), onStep: (step) => steps.push(step) })).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'E_DIVERGED', message: expect.stringMatching(/^The loss became (NaN|Infinity) at step \d+ .*Lower learningRate \(now 1e\+308\)/), details: { option: 'learningRate' } });
    expect(steps.every((step) => Number.isFinite(step.loss))).toBe(true);
  });

  it('refuses a checkpoint path that is a file before the first step', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'fkd-loop-')), 'checkpoint');
    await writeFile(file, 'not a folder');
    let stepped = false;
    const error = await trainStudent(base({ checkpointDir: file, onStep: () => (stepped = true) })).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/exists and is not a folder/) });
    expect(stepped).toBe(false);
  });

  it('produces logits for the right number of classes', async () => {
    const { model } = await trainStudent(base({ numClasses: 4 }));
    const shape = tf.tidy(() => (model.predict(tf.zeros([3, 8, 8, 3])) as Tensor).shape);
    expect(shape).toEqual([3, 4]);
    model.dispose();
  });
});
