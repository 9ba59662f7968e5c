import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { label } from '../../src/generate/label.js';
import { distill, trainingDtype } from '../../src/train/distill.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli } from '../helpers/cli.js';

let work: string;
let store: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-distill-'));
  store = join(work, 'labels');
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: store, epochs: 3, crops: 4, topK: 3, threads: 1 });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('distillation on the fixture', () => {
  it('lowers the soft cross-entropy against the stored labels', async () => {
    const losses: number[] = [];
    const result = await distill({ data: FIXTURE_IMAGES, labels: store, epochs: 6, student: 'tiny', size: 16, batchSize: 16, learningRate: 0.02, loader: { workers: 0 }, onStep: (s) => losses.push(s.loss) });
    expect(losses).toHaveLength(6 * 6);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean(losses.slice(-6))).toBeLessThan(0.85 * mean(losses.slice(0, 6)));
    expect(result.history.at(-1)!.accuracy).toBeGreaterThan(0.5);
  });

  it('refuses teacherWeights for a single store instead of ignoring them', async () => {
    await expect(distill({ data: FIXTURE_IMAGES, labels: store, teacherWeights: [1, 2], epochs: 1, size: 32 })).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/teacherWeights needs labels to be a list/) });
  });

  it('uses uint8 pixels on tfjs-node-gpu only (that package cannot be installed here, so only the choice is tested)', () => {
    expect(trainingDtype({ packageName: '@tensorflow/tfjs-node-gpu' })).toBe('uint8');
    expect(trainingDtype({ packageName: '@tensorflow/tfjs-node' })).toBe('float32');
    expect(trainingDtype({ packageName: '@tensorflow/tfjs' })).toBe('float32');
  });

  it('trains the same on uint8 pixels (normalised on the device) as on float32 pixels', async () => {
    const run = async (dtype: 'float32' | 'uint8') => {
      const losses: number[] = [];
      await distill({ data: FIXTURE_IMAGES, labels: store, epochs: 1, student: 'tiny', size: 16, batchSize: 32, seed: 3, dtype, loader: { workers: 0 }, onStep: (s) => losses.push(s.loss) });
      return losses;
    };
    const floats = await run('float32');
    const bytes = await run('uint8');
    expect(bytes).toHaveLength(floats.length);
    for (const [step, loss] of bytes.entries()) expect(Math.abs(loss - floats[step]!)).toBeLessThan(1e-3 * floats[step]!);
  });

  it('fkd train logs each epoch, checkpoints, and resumes after the saved epoch', async () => {
    const checkpoint = join(work, 'ckpt');
    const args = ['train', '--data', FIXTURE_IMAGES, '--labels', store, '--student', 'tiny', '--size', '16', '--batch-size', '32', '--workers', '0', '--checkpoint', checkpoint];
    const first = await runCli([...args, '--epochs', '1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^epoch 0: loss \d+\.\d+, accuracy [\d.]+%, [\d.]+ crops\/s, 3 steps/m);
    expect(first.stderr).toMatch(/student: TF\.js \w+ backend/);
    expect(JSON.parse(await readFile(join(checkpoint, 'state.json'), 'utf8'))).toMatchObject({ epoch: 0 });
    const resumed = await runCli([...args, '--epochs', '2', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).not.toMatch(/^epoch 0:/m);
    expect(resumed.stdout).toMatch(/^epoch 1: loss/m);
    expect(JSON.parse(await readFile(join(checkpoint, 'state.json'), 'utf8'))).toMatchObject({ epoch: 1 });
    // Without --resume the same command would overwrite the checkpoint: refused before training.
    const again = await runCli([...args, '--epochs', '1']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/error E_USAGE: .*ckpt holds a checkpoint already, which a new run would overwrite\. To continue from it, add --resume/);
    expect(JSON.parse(await readFile(join(checkpoint, 'state.json'), 'utf8'))).toMatchObject({ epoch: 1 });
  });

  it('fkd train --checkpoint s3://… is refused, and writes no local folder named s3:', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'fkd-s3-checkpoint-'));
    const result = await runCli(['train', '--data', FIXTURE_IMAGES, '--labels', store, '--student', 'tiny', '--size', '16', '--workers', '0', '--epochs', '1', '--checkpoint', 's3://bucket/run'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/error E_USAGE: Checkpoints .* are written to a local folder, but "s3:\/\/bucket\/run" is a URL/);
    expect(await readdir(cwd)).toEqual([]);
    await rm(cwd, { recursive: true, force: true });
  });
});
