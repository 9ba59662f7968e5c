import { it } from 'vitest';
import { loadTf } from '../../src/tf/runtime.js';
import { createStudent } from '../../src/train/students.js';
import { softCrossEntropy } from '../../src/train/loss.js';
import { batchToTensors } from '../../src/train/tensors.js';
import { syntheticBatch } from '../helpers/batches.js';
import type { Variable, Tensor2D } from '@tensorflow/tfjs';

it('speed', async () => {
  const { tf, backend } = await loadTf('training');
  console.log('backend', backend);
  for (const [size, batchSize, width] of [[16, 16, 8], [16, 16, 16], [32, 16, 8], [32, 16, 16]] as const) {
    const model = createStudent(tf, 'tiny', { imageSize: size, numClasses: 4, width });
    const opt = tf.train.adam(0.01);
    const vars = model.trainableWeights.map((w) => w.read() as Variable);
    const n = 8;
    const losses = [];
    let t0 = 0;
    for (let i = 0; i < n; i++) {
      if (i === 1) t0 = performance.now();
      const b = batchToTensors(tf, syntheticBatch({ size: batchSize, imageSize: size, seed: i + 1 }));
      const cost = opt.minimize(() => softCrossEntropy(tf, model.apply(b.xs, { training: true }) as Tensor2D, b.ys), true, vars)!;
      losses.push((await cost.data())[0]!.toFixed(3));
      tf.dispose([cost, b.xs, b.ys, b.hard]);
    }
    const s = (performance.now() - t0) / 1000;
    console.log(`tiny w${width} ${size}px batch ${batchSize}: ${((n-1) / s).toFixed(2)} steps/s ${((n-1) * batchSize / s).toFixed(1)} img/s params ${model.countParams()} ${losses.join(' ')}`);
  }
}, 300_000);
