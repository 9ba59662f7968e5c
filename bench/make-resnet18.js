// Writes bench/models/resnet18.onnx: the torchvision ResNet-18 architecture with seeded
// random weights. Throughput depends on the architecture, not on what the weights learned,
// so the benchmark needs no pretrained download (there is no internet here) and no Python.
//
// BatchNorm is omitted: in an exported inference graph it is folded into the conv
// weights anyway, so leaving it out gives the same op count and cost as a real export.
//
// Usage: node bench/make-resnet18.js [--check]   (--check also times batch 16 on the CPU)

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OnnxGraph, conv, gaussian, gemm, mulberry32 } from '../scripts/lib/onnx-graph.js';

const here = dirname(fileURLToPath(import.meta.url));
const defaultOutputPath = join(here, 'models', 'resnet18.onnx');
const random = mulberry32(18);

// He-normal weights keep activations in a sane range without BN. Zero biases are fine:
// they only need to be finite, and no denormals should slow the timing down.
function heWeights(outChannels, inChannels, kernel, gain = 1) {
  const std = gain * Math.sqrt(2 / (inChannels * kernel * kernel));
  const values = new Float32Array(outChannels * inChannels * kernel * kernel);
  for (let i = 0; i < values.length; i++) values[i] = gaussian(random) * std;
  return values;
}

function convLayer(graph, name, x, inChannels, outChannels, kernel, stride, gain = 1) {
  const pad = (kernel - 1) / 2;
  return conv(graph, name, x, heWeights(outChannels, inChannels, kernel, gain), new Float32Array(outChannels), {
    kernel,
    stride,
    pads: [pad, pad, pad, pad],
    channels: [outChannels, inChannels],
  });
}

function basicBlock(graph, name, x, inChannels, outChannels, stride) {
  let y = graph.node('Relu', [convLayer(graph, `${name}.conv1`, x, inChannels, outChannels, 3, stride)]);
  // Damp the residual branch so the sum does not double its variance at every block.
  y = convLayer(graph, `${name}.conv2`, y, outChannels, outChannels, 3, 1, 0.5);
  const shortcut =
    stride !== 1 || inChannels !== outChannels
      ? convLayer(graph, `${name}.downsample`, x, inChannels, outChannels, 1, stride)
      : x;
  return graph.node('Relu', [graph.node('Add', [y, shortcut])]);
}

export function buildResnet18(numClasses = 1000) {
  const graph = new OnnxGraph('resnet18');
  let x = graph.input('input', ['batch', 3, 224, 224]);
  x = graph.node('Relu', [convLayer(graph, 'conv1', x, 3, 64, 7, 2)]);
  x = graph.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let channels = 64;
  for (const [stage, width] of [64, 128, 256, 512].entries()) {
    const stride = stage === 0 ? 1 : 2;
    x = basicBlock(graph, `layer${stage + 1}.0`, x, channels, width, stride);
    x = basicBlock(graph, `layer${stage + 1}.1`, x, width, width, 1);
    channels = width;
  }
  x = graph.node('Flatten', [graph.node('GlobalAveragePool', [x])], { axis: 1 });
  const fcWeights = heWeights(numClasses, 512, 1, Math.SQRT1_2);
  gemm(graph, 'fc', x, fcWeights, new Float32Array(numClasses), [512, numClasses], 'logits');
  graph.output('logits', ['batch', numClasses]);
  return graph.toBytes();
}

async function timeBatch16(path) {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  const batch = 16;
  const input = new Float32Array(batch * 3 * 224 * 224);
  for (let i = 0; i < input.length; i++) input[i] = gaussian(random);
  const feeds = { input: new ort.Tensor('float32', input, [batch, 3, 224, 224]) };
  await session.run(feeds); // warm-up: first run allocates arenas and picks kernels
  const runs = 8;
  const started = performance.now();
  let output;
  for (let i = 0; i < runs; i++) output = (await session.run(feeds)).logits;
  const seconds = (performance.now() - started) / 1000;
  const finite = output.data.every(Number.isFinite);
  console.log(`resnet18 batch ${batch}: ${((runs * batch) / seconds).toFixed(1)} crops/s, output ${output.dims.join('x')}, finite=${finite}`);
  await session.release();
}

/**
 * Writes the model unless it is already there, and returns its path. bench/run.js can call
 * this instead of shelling out.
 *
 * @example
 * const path = await ensureResnet18();
 */
export async function ensureResnet18({ force = false, classes = 1000 } = {}) {
  const outputPath = classes === 1000 ? defaultOutputPath : defaultOutputPath.replace('.onnx', `-c${classes}.onnx`);
  if (force || !existsSync(outputPath)) {
    mkdirSync(dirname(outputPath), { recursive: true });
    const bytes = buildResnet18(classes);
    writeFileSync(outputPath, bytes);
    console.log(`wrote ${outputPath} (${(bytes.length / 1e6).toFixed(1)} MB)`);
  }
  return outputPath;
}

// Only act when run as a script, so importing buildResnet18 has no side effects.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const path = await ensureResnet18({ force: true });
  if (process.argv.includes('--check')) await timeBatch16(path);
}
