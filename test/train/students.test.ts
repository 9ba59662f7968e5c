import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTf } from '../../src/tf/runtime.js';
import type { Tf } from '../../src/tf/types.js';
import { createStudent } from '../../src/train/students.js';

let tf: Tf;
beforeAll(async () => {
  ({ tf } = await loadTf('training'));
});

function trainableParameters(model: LayersModel): number {
  return model.trainableWeights.reduce((sum, weight) => sum + weight.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
}

function logitsShape(model: LayersModel, imageSize: number): number[] {
  return tf.tidy(() => (model.predict(tf.zeros([2, imageSize, imageSize, 3])) as Tensor).shape);
}

describe('createStudent', () => {
  it('builds a tiny student from NHWC images to logits', () => {
    const model = createStudent(tf, 'tiny', { imageSize: 16, numClasses: 4 });
    expect(model.inputs[0]?.shape).toEqual([null, 16, 16, 3]);
    expect(logitsShape(model, 16)).toEqual([2, 4]);
    model.dispose();
  });

  it('is reproducible: the same seed gives the same weights, another seed does not', () => {
    const weightsOf = (seed: number) => {
      const model = createStudent(tf, 'tiny', { imageSize: 8, numClasses: 3, seed });
      const values = model.getWeights().map((weight) => Array.from(weight.dataSync()));
      model.dispose();
      return values;
    };
    const first = weightsOf(5);
    expect(weightsOf(5)).toEqual(first);
    expect(weightsOf(6)[0]).not.toEqual(first[0]);
  });

  it('builds ResNet-18 with torchvision parameter counts', () => {
    const model = createStudent(tf, 'resnet18', { imageSize: 32, numClasses: 10 });
    expect(logitsShape(model, 32)).toEqual([2, 10]);
    // torchvision resnet18(num_classes=10): 11,689,512 − 990 × 513.
    expect(trainableParameters(model)).toBe(11_181_642);
    // TF.js also counts batch-norm moving mean and variance: 2 × 4,800 channels.
    expect(model.countParams()).toBe(11_181_642 + 9_600);
    model.dispose();

    const imagenet = createStudent(tf, 'resnet18', { imageSize: 32, numClasses: 1000 });
    expect(trainableParameters(imagenet)).toBe(11_689_512);
    imagenet.dispose();
  });

  it('validates eagerly', () => {
    expect(() => createStudent(tf, 'tiny', { imageSize: -3, numClasses: 4 })).toThrow(
      'Expected positive integer for imageSize but received -3',
    );
    expect(() => createStudent(tf, 'resnet18', { imageSize: 32, numClasses: 4, width: 8 })).toThrow(/width/);
    expect(() => createStudent(tf, 'vgg' as 'tiny', { imageSize: 32, numClasses: 4 })).toThrow(
      expect.objectContaining({ code: 'E_USAGE' }),
    );
  });
});
