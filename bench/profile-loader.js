// One loader epoch as a new user runs it (openLabels + createLoader), for profiling:
//   node bench/profile-loader.js prepare            # 1,200 photo-sized JPEGs + a 4-crop label store, once
//   /usr/bin/time -v node --cpu-prof --cpu-prof-dir=bench/out/prof bench/profile-loader.js epoch
//   node bench/profile-loader.js analyze bench/out/prof
// `epoch` streams one epoch at 224 px, 4 crops/image, float32 NCHW, batch 64, 2 render threads.
// `analyze` reads every .cpuprofile in the folder (--cpu-prof writes one per thread, workers
// included) and prints, per thread: busy share of its wall time, GC, idle and the top self times.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBenchDataset } from './lib/dataset.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const data = join(here, 'out', 'profile-data');
const store = join(here, 'out', 'profile-labels');
const [command = 'epoch', ...rest] = process.argv.slice(2);
const flag = (name, fallback) => (rest.includes(name) ? rest[rest.indexOf(name) + 1] : fallback);

if (command === 'prepare') {
  await ensureBenchDataset(data, { classes: 4, perClass: 300 });
  if (!existsSync(join(store, 'manifest.json'))) {
    const { label } = await import('../dist/generate/label.js');
    const teacher = fileURLToPath(new URL('../fixtures/teacher/tiny.onnx', import.meta.url));
    await label({ data, teacher, out: store, epochs: 1, crops: 4, interpolation: 'bilinear', threads: 2 });
  }
  console.log(`data ${data}\nlabels ${store}`);
} else if (command === 'epoch') {
  const { openLabels } = await import('../dist/store/labels.js');
  const { createLoader } = await import('../dist/loader/loader.js');
  const labels = await openLabels(store);
  const dtype = flag('--dtype', 'float32');
  const epochs = Number(flag('--epochs', '1'));
  const started = performance.now();
  let crops = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for await (const batch of createLoader({ data, labels, epoch, batchSize: 64, size: 224, layout: 'nchw', dtype, workers: 2 })) crops += batch.size;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${crops} crops in ${seconds.toFixed(2)} s: ${(crops / seconds).toFixed(0)} crops/s (${dtype}), rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);
} else if (command === 'analyze') {
  const dir = rest[0] ?? join(here, 'out', 'prof');
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile')).sort()) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const self = new Map();
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const deltas = profile.timeDeltas;
    let total = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      const node = byId.get(profile.samples[i]);
      const dt = deltas[i + 1] ?? 0;
      total += dt;
      const frame = node.callFrame;
      const name = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
      self.set(name, (self.get(name) ?? 0) + dt);
    }
    const share = (name) => [...self].filter(([key]) => key.startsWith(name)).reduce((sum, [, t]) => sum + t, 0) / total;
    const idle = share('(idle)');
    const gc = share('(garbage collector)');
    const program = share('(program)');
    console.log(`\n${file}: ${(total / 1e6).toFixed(2)} s sampled; busy ${(100 * (1 - idle)).toFixed(1)}%, idle ${(100 * idle).toFixed(1)}%, GC ${(100 * gc).toFixed(1)}%, (program) ${(100 * program).toFixed(1)}%`);
    const top = [...self].filter(([key]) => !key.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, Number(flag('--top', '8')));
    for (const [name, t] of top) console.log(`  ${(100 * (t / total)).toFixed(1).padStart(5)}%  ${name}`);
  }
} else {
  throw new Error(`unknown command ${command}: prepare | epoch | analyze <dir>`);
}
