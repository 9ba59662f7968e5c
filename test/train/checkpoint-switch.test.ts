import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadTf } from '../../src/tf/runtime.js';
import type { Tf } from '../../src/tf/types.js';
import { checkCheckpointDir, loadCheckpoint, saveCheckpoint, type TrainingState } from '../../src/train/checkpoint.js';
import { createStudent } from '../../src/train/students.js';

/**
 * A kill can strike between any two renames of a checkpoint save. A real kill cannot be
 * timed to land there on demand, so the renames are counted and the n-th one fails as a
 * kill would (nothing after it runs): whatever n, the folder must still load, as the
 * previous checkpoint or the new one, never as a mix of the two.
 */
const renames = vi.hoisted(() => ({ failAt: Number.POSITIVE_INFINITY, count: 0 }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...original,
    rename: async (from: string, to: string) => {
      renames.count += 1;
      if (renames.count === renames.failAt) throw Object.assign(new Error('killed (simulated)'), { code: 'EKILLED' });
      return original.rename(from, to);
    },
  };
});

let tf: Tf;
let root: string;
beforeAll(async () => {
  ({ tf } = await loadTf('training'));
  root = await mkdtemp(join(tmpdir(), 'fkd-checkpoint-switch-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const state = (epoch: number): TrainingState => ({ epoch, step: 10 * (epoch + 1), studentName: 'tiny', imageSize: 8, numClasses: 3, optimizer: 'sgd', lr: 0.1, seed: 1 });

describe('a checkpoint save killed part-way', () => {
  it('leaves a checkpoint that loads, the previous one or the new one, whichever rename the kill hits', async () => {
    // Three students with other weights, so a checkpoint that mixes two saves cannot pass its hashes.
    const models = [1, 2, 3].map((seed) => createStudent(tf, 'tiny', { imageSize: 8, numClasses: 3, seed }));
    const save = (directory: string, epoch: number) => saveCheckpoint(directory, models[epoch]!, state(epoch));
    renames.failAt = Number.POSITIVE_INFINITY;
    renames.count = 0;
    await save(join(root, 'probe'), 0);
    await save(join(root, 'probe'), 1);
    const perSave = renames.count / 2;
    expect(perSave).toBeGreaterThan(0);
    for (let n = 1; n <= perSave; n++) {
      const directory = join(root, `killed-at-${n}`);
      renames.failAt = Number.POSITIVE_INFINITY;
      await save(directory, 0);
      renames.count = 0;
      renames.failAt = n;
      await expect(save(directory, 1)).rejects.toThrow();
      renames.failAt = Number.POSITIVE_INFINITY;
      const loaded = await loadCheckpoint(directory, { tf });
      expect([0, 1]).toContain(loaded.state.epoch);
      loaded.model.dispose();
      // The next save after the kill finishes the switch, and it loads as the newest.
      await save(directory, 2);
      const next = await loadCheckpoint(directory, { tf });
      expect(next.state.epoch).toBe(2);
      next.model.dispose();
    }
    for (const model of models) model.dispose();
  });
});

describe('checkCheckpointDir', () => {
  it('refuses to start over a checkpoint without resume, and an s3:// location', async () => {
    const model = createStudent(tf, 'tiny', { imageSize: 8, numClasses: 3, seed: 1 });
    const directory = join(root, 'existing');
    await saveCheckpoint(directory, model, state(0));
    model.dispose();
    await expect(checkCheckpointDir(directory)).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/holds a checkpoint already.*--resume.*name a new folder/) });
    await expect(checkCheckpointDir(directory, { resume: true })).resolves.toBeUndefined();
    await expect(checkCheckpointDir(join(root, 'new'))).resolves.toBeUndefined();
    await expect(checkCheckpointDir('s3://bucket/run')).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/local folder/) });
  });
});
