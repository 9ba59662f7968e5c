// The end-to-end demo on the embedded default: fixture images + fixture teacher → labels →
// info → verify → loader → a short student run. Runs the real CLI, as a user would.
// Usage: npm run demo   (builds first). Output goes to a fresh temporary directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLoader, openLabels, storeInfo } from '../dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const data = join(root, 'fixtures', 'images');
const teacher = join(root, 'fixtures', 'teacher', 'tiny.onnx');
const work = mkdtempSync(join(tmpdir(), 'fkd-demo-'));
const labels = join(work, 'labels');
const checkpoint = join(work, 'student');

function fkd(...args) {
  console.log(`\n$ fkd ${args.join(' ')}`);
  const stdout = execFileSync(process.execPath, [join(root, 'bin', 'fkd.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  process.stdout.write(stdout);
  return stdout;
}

fkd('label', '--data', data, '--teacher', teacher, '--out', labels, '--epochs', '4', '--crops', '4', '--top-k', '3', '--shard-images', '8');
fkd('info', labels);
fkd('verify', labels, '--data', data, '--teacher', teacher, '--sample', '100');

console.log('\n$ (library) one loader epoch at 64 px, float32 NCHW, 4 crops per image');
const store = await openLabels(labels);
const started = performance.now();
let crops = 0;
const loader = createLoader({ data, labels: store, epoch: 0, batchSize: 32, size: 64, layout: 'nchw' });
for await (const batch of loader) crops += batch.size;
const seconds = (performance.now() - started) / 1000;
console.log(`loader: ${crops} crops in ${seconds.toFixed(2)} s (${(crops / seconds).toFixed(0)} crops/s), ${loader.stats.decodes} decodes for ${loader.stats.images} images`);

const trained = fkd('train', '--data', data, '--labels', labels, '--epochs', '4', '--student', 'tiny', '--size', '32', '--batch-size', '32', '--lr', '0.01', '--checkpoint', checkpoint);
const finalLoss = /final loss ([\d.]+)/.exec(trained)?.[1] ?? 'n/a';

const info = await storeInfo(labels);
console.log(`\nsummary: ${info.records} records, ${info.bytesPerRecord.toFixed(2)} bytes/record (everything included; small stores are dominated by the manifest), loader ${(crops / seconds).toFixed(0)} crops/s, final student loss ${finalLoss}; output in ${work}`);
