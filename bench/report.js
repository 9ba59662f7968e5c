// How long `fkd report` takes per million records, and its memory, on a simulated ImageNet-shaped
// store (1000 classes, top-5, 4 crops per image, 500×375 images) written by the real encoder.
// Baseline, same run: reading and verifying the same epoch blocks through the public reader
// without computing anything (what any consumer of the store pays).
// Usage: npm run build && node bench/report.js [--images 20000] [--epochs 10]
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { collectReport, openLabels } from '../dist/index.js';
import { codecDescription, encodeProbability } from '../dist/labels/codec.js';
import { encodeShard } from '../dist/store/format/encode.js';
import { serializeManifest } from '../dist/store/manifest.js';
import { mulberry32 as seededRandom } from '../scripts/lib/onnx-graph.js';

const { values } = parseArgs({ options: { images: { type: 'string', default: '20000' }, epochs: { type: 'string', default: '10' } } });
const images = Number(values.images);
const epochs = Number(values.epochs);
const crops = 4;
const k = 5;
const classes = 1000;
const shardImages = 1000;
const names = Array.from({ length: classes }, (_, c) => `n${String(c).padStart(8, '0')}`);

async function writeStore(dir) {
  const random = seededRandom(11);
  const entries = [];
  let bytes = 0;
  await mkdir(join(dir, 'shards'), { recursive: true });
  for (let shard = 0; shard * shardImages < images; shard++) {
    const start = shard * shardImages;
    const count = Math.min(shardImages, images - start);
    const widths = new Uint32Array(count).fill(500);
    const heights = new Uint32Array(count).fill(375);
    const paths = Array.from({ length: count }, (_, i) => `${names[(start + i) % classes]}/img_${start + i}.JPEG`);
    const blocks = [];
    for (let epoch = 0; epoch < epochs; epoch++) {
      const n = count * crops;
      const r = { epoch, crops, topK: k, count: n, top: new Uint16Array(n), left: new Uint16Array(n), height: new Uint16Array(n), width: new Uint16Array(n), flip: new Uint8Array(n), classes: new Uint32Array(n * k), codes: new Uint16Array(n * k) };
      for (let slot = 0; slot < n; slot++) {
        const truth = (start + Math.floor(slot / crops)) % classes;
        const h = 30 + Math.floor(random() * 345);
        r.height[slot] = h;
        r.width[slot] = Math.min(500, Math.max(1, Math.round(h * (0.75 + random() * 0.58))));
        r.flip[slot] = random() < 0.5 ? 1 : 0;
        // The true class first most of the time, with a peaked but soft distribution.
        let rest = 1;
        let previous = 1;
        const chosen = new Set();
        for (let j = 0; j < k; j++) {
          let c = j === 0 && random() < 0.8 ? truth : Math.floor(random() * classes);
          while (chosen.has(c)) c = (c + 1) % classes;
          chosen.add(c);
          // Descending and summing below 1: each is a fraction of both the previous and the rest.
          previous = j === 0 ? 0.4 + 0.5 * random() : Math.min(previous, rest) * (0.1 + 0.5 * random());
          const p = previous;
          rest -= p;
          r.classes[slot * k + j] = c;
          r.codes[slot * k + j] = encodeProbability(p);
        }
      }
      blocks.push(r);
    }
    const encoded = encodeShard({ imageStart: start, imageCount: count, widths, heights, skipped: [], paths }, blocks, classes);
    const key = `shards/${String(shard).padStart(6, '0')}.fkd`;
    await writeFile(join(dir, key), encoded.bytes);
    bytes += encoded.bytes.length;
    entries.push({ index: shard, key, imageStart: start, imageCount: count, records: count * crops * epochs, layout: encoded.layout });
  }
  const manifest = serializeManifest({
    format: 'fkd-labels', version: 1, complete: true, createdAt: new Date(0).toISOString(), tool: { name: 'fkd', version: '0' },
    dataset: { images, classes: names, fingerprint: '0'.repeat(64), skipped: [] },
    teacher: { file: 't.onnx', sha256: '0'.repeat(64), engine: 'onnx', backend: 'onnx/cpu', inputSize: 224, layout: 'nchw', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], outputs: 'logits', temperature: 1 },
    sampler: { seed: 0, scale: [0.08, 1], ratio: [0.75, 4 / 3], flip: 0.5, epochs, crops, interpolation: 'bicubic', maxPixels: 268402689 },
    codec: codecDescription(k, 'marginal'), shardImages, shards: entries, totals: { records: images * crops * epochs, bytes },
  });
  await writeFile(join(dir, 'manifest.json'), manifest);
  return images * crops * epochs;
}

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);

async function timed(run) {
  globalThis.gc?.();
  peakRss = process.memoryUsage().rss;
  const before = peakRss;
  const start = performance.now();
  await run();
  const seconds = (performance.now() - start) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return { seconds, rssBefore: before, rssPeak: peakRss };
}

const dir = await mkdtemp(join(tmpdir(), 'fkd-bench-report-'));
try {
  const records = await writeStore(dir);
  const read = await timed(async () => {
    const labels = await openLabels(dir);
    for (let epoch = 0; epoch < labels.epochs; epoch++) for (const shard of labels.manifest.shards) await labels.readEpoch(shard, epoch);
  });
  const report = await timed(() => collectReport(dir));
  const mib = (b) => (b / 2 ** 20).toFixed(0);
  const perMillion = (s) => ((s / records) * 1e6).toFixed(2);
  console.log(`fkd report, simulated store: ${records.toLocaleString('en-US')} records (${images} images × ${epochs} epochs × ${crops} crops, top-${k} of ${classes}), Node ${process.version}`);
  console.log(`  baseline, read + verify every epoch block: ${read.seconds.toFixed(2)} s (${perMillion(read.seconds)} s per million records), peak RSS ${mib(read.rssPeak)} MiB`);
  console.log(`  collectReport (all statistics):            ${report.seconds.toFixed(2)} s (${perMillion(report.seconds)} s per million records), peak RSS ${mib(report.rssPeak)} MiB (${mib(report.rssPeak - report.rssBefore)} MiB above its start)`);
  console.log(`  ratio report ÷ read: ${(report.seconds / read.seconds).toFixed(2)}`);
  console.log(`  reproduce: npm run build && node --expose-gc bench/report.js --images ${images} --epochs ${epochs}`);
} finally {
  clearInterval(sampler);
  await rm(dir, { recursive: true, force: true });
}
