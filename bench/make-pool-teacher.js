// Writes bench/models/pool-teacher-c<classes>.onnx: a near-free teacher (global average pool,
// then a 1×1 convolution to the classes) at 224 px. It stands in for a teacher on a GPU, which
// costs the label pass next to nothing: what is left is the pass's own CPU side (decode, render,
// top-k, encode), the part that has to keep up with the loader.
//
// Usage: node bench/make-pool-teacher.js   (bench/run.js calls ensurePoolTeacher itself)

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OnnxGraph, conv, gaussian, mulberry32 } from '../scripts/lib/onnx-graph.js';

const here = dirname(fileURLToPath(import.meta.url));

export function buildPoolTeacher(numClasses, size = 224) {
  const random = mulberry32(224);
  const graph = new OnnxGraph('pool-teacher');
  let x = graph.input('input', ['batch', 3, size, size]);
  x = graph.node('GlobalAveragePool', [x]);
  const weights = Float32Array.from({ length: numClasses * 3 }, () => gaussian(random));
  x = conv(graph, 'head', x, weights, new Float32Array(numClasses), { kernel: 1, channels: [numClasses, 3], pads: [0, 0, 0, 0] });
  graph.node('Flatten', [x], { axis: 1 }, 'logits');
  graph.output('logits', ['batch', numClasses]);
  return graph.toBytes();
}

/**
 * Writes the model unless it is already there, and returns its path.
 *
 * @example
 * const path = await ensurePoolTeacher({ classes: 4 });
 */
export async function ensurePoolTeacher({ classes = 4, force = false } = {}) {
  const path = join(here, 'models', `pool-teacher-c${classes}.onnx`);
  if (force || !existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, buildPoolTeacher(classes));
  }
  return path;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await ensurePoolTeacher({ force: true }));
