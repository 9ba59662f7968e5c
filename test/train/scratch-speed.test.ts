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
  for (const [size, batchSize] of [[16, 16], [32, 16], [32, 32]] as const) {
    const model = createStudent(tf, 'tiny', { imageSize: size, numClasses: 4 });
    const opt = tf.train.adam(0.01);
    const vars = model.trainableWeights.map((w) => w.read() as Variable);
    const t0 = performance.now();
    const n = 10;
    for (let i = 0; i < n; i++) {
      const b = batchToTensors(tf, syntheticBatch({ size: batchSize, imageSize: size, seed: i + 1 }));
      const cost = opt.minimize(() => softCrossEntropy(tf, model.apply(b.xs, { training: true }) as Tensor2D, b.ys), true, vars)!;
      const v = (await cost.data())[0];
      tf.dispose([cost, b.xs, b.ys, b.hard]);
      if (i % 3 === 0) console.log(size, batchSize, i, v, tf.memory().numTensors);
    }
    const s = (performance.now() - t0) / 1000;
    console.log(`tiny ${size}px batch ${batchSize}: ${(n / s).toFixed(2)} steps/s ${(n * batchSize / s).toFixed(1)} img/s`);
  }
  const t1 = performance.now();
  const r = createStudent(tf, 'resnet18', { imageSize: 32, numClasses: 10 });
  console.log('resnet build', performance.now() - t1, r.countParams(), r.trainableWeights.reduce((a, w) => a + w.shape.reduce((x, y) => x * (y ?? 1), 1), 0));
  const t2 = performance.now();
  const out = r.predict(tf.zeros([2, 32, 32, 3])) as Tensor2D;
  console.log('resnet predict', performance.now() - t2, out.shape);
}, 300_000);
