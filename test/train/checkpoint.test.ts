import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTf } from '../../src/tf/runtime.js';
import type { Tf } from '../../src/tf/types.js';
import { loadCheckpoint, saveCheckpoint, type TrainingState } from '../../src/train/checkpoint.js';
import { createStudent } from '../../src/train/students.js';
import { seededRandom } from '../helpers/random.js';

let tf: Tf;
let root: string;
beforeAll(async () => {
  ({ tf } = await loadTf('training'));
  root = await mkdtemp(join(tmpdir(), 'fkd-checkpoint-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const state: TrainingState = {
  epoch: 4,
  step: 120,
  studentName: 'tiny',
  imageSize: 8,
  numClasses: 3,
  optimizer: 'adamw',
  lr: 0.002,
  seed: 9,
};

/** A tiny student whose every weight, batch-norm statistics included, is random. */
function randomisedStudent(): LayersModel {
  const model = createStudent(tf, 'tiny', { imageSize: 8, numClasses: 3, seed: 9 });
  const random = seededRandom(11);
  const values = model.weights.map((weight) => {
    // Variances must stay positive; everything else is centred on zero.
    const offset = weight.name.includes('moving_variance') ? 0.5 : -0.5;
    const size = weight.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
    return tf.tensor(Float32Array.from({ length: size }, () => random() + offset), weight.shape as number[]);
  });
  model.setWeights(values);
  tf.dispose(values);
  return model;
}

function predict(model: LayersModel): number[] {
  return tf.tidy(() => {
    const input = tf.tensor4d(Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, index) => Math.sin(index)), [2, 8, 8, 3]);
    return Array.from((model.predict(input) as Tensor).dataSync());
  });
}

async function savedCopy(name: string): Promise<string> {
  const directory = join(root, name);
  const model = randomisedStudent();
  await saveCheckpoint(directory, model, state);
  model.dispose();
  return directory;
}

describe('saveCheckpoint / loadCheckpoint', () => {
  it('round-trips weights and state: identical predictions', async () => {
    const directory = join(root, 'round-trip');
    const model = randomisedStudent();
    await saveCheckpoint(directory, model, state);
    // Saving twice replaces the checkpoint in place.
    await saveCheckpoint(directory, model, { ...state, epoch: 5 });

    expect((await readdir(directory)).sort()).toEqual(['model.json', 'state.json', 'weights.bin']);
    const restored = await loadCheckpoint(directory, { tf });
    expect(restored.state).toEqual({ ...state, epoch: 5 });
    const predictions = predict(model);
    expect(predictions.every(Number.isFinite)).toBe(true);
    expect(predict(restored.model)).toEqual(predictions);
    const manifest = JSON.parse(await readFile(join(directory, 'model.json'), 'utf8'));
    expect(manifest.format).toBe('layers-model');
    expect(manifest.weightsManifest[0].paths).toEqual(['weights.bin']);
    model.dispose();
    restored.model.dispose();
  });

  it('reports a missing checkpoint as E_IO with the file', async () => {
    const directory = join(root, 'nowhere');
    await expect(loadCheckpoint(directory, { tf })).rejects.toMatchObject({
      code: 'E_IO',
      path: join(directory, 'state.json'),
    });
    const partial = await savedCopy('partial');
    await rm(join(partial, 'weights.bin'));
    await expect(loadCheckpoint(partial, { tf })).rejects.toMatchObject({
      code: 'E_IO',
      path: join(partial, 'weights.bin'),
    });
  });

  it('reports corrupt files as E_MODEL_LOAD with the file', async () => {
    const badJson = await savedCopy('bad-json');
    await writeFile(join(badJson, 'state.json'), '{"epoch": 4,');
    await expect(loadCheckpoint(badJson, { tf })).rejects.toMatchObject({
      code: 'E_MODEL_LOAD',
      path: join(badJson, 'state.json'),
    });

    const badState = await savedCopy('bad-state');
    const parsed = JSON.parse(await readFile(join(badState, 'state.json'), 'utf8'));
    await writeFile(join(badState, 'state.json'), JSON.stringify({ ...parsed, optimizer: 'rmsprop' }));
    await expect(loadCheckpoint(badState, { tf })).rejects.toThrow(/optimizer/);

    const flipped = await savedCopy('flipped-bit');
    const weights = await readFile(join(flipped, 'weights.bin'));
    weights[10] = weights[10]! ^ 1;
    await writeFile(join(flipped, 'weights.bin'), weights);
    await expect(loadCheckpoint(flipped, { tf })).rejects.toMatchObject({
      code: 'E_MODEL_LOAD',
      path: join(flipped, 'weights.bin'),
    });
  });
});
