// What the strict decoder (issue 9) costs readers: `verifyStore` and openLabels + reading
// every shard's image block and one label epoch (the label side of a loader epoch), and one
// full loader epoch on the fixture images, each with this build against a build of fkd from
// before the strict decoder, alternated in one run. Separate from bench/run.js (owned by the
// benchmark harness); run it alone.
//
// npm run bench runs it (section `format`) against a build of 47be659 it makes itself
// (bench/lib/build-at.js). Alone:
//   npm run build && node --expose-gc bench/format-checks.js <dist-of-the-old-build> [--shards 64] [--rounds 9] [--photos DIR] [--json FILE]
// --photos adds a loader epoch over real photos at 224 px with 2 render threads: this build
// reads a format 2 store of them (content hashes checked), the old one its format 1 twin.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { writeFormat1Twin } from './lib/format1.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { codecDescription } from '../dist/labels/codec.js';
import { serializeManifest } from '../dist/store/manifest.js';
import { mulberry32 as seededRandom } from '../scripts/lib/onnx-graph.js';
import { simulateShard } from './lib/records.js';

const args = process.argv.slice(2);
const oldDist = args[0];
if (!oldDist) throw new Error('usage: node bench/format-checks.js <dist of the build to compare with> [--shards N] [--rounds N]');
const text = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const option = (name, fallback) => (args.includes(name) ? Number(text(name)) : fallback);
const photos = text('--photos');
const json = text('--json');
// 64 shards: with fewer, a round is a few ms and JIT warm-up and GC timing decide the ratio.
const shards = option('--shards', 64);
const rounds = option('--rounds', 9);
const warmup = 3;
const images = 1000;
const epochs = 4;
const crops = 4;
const k = 5;
const classes = 1000;

const root = fileURLToPath(new URL('..', import.meta.url));
const now = await import(pathToFileURL(join(root, 'dist', 'index.js')).href);
const before = await import(pathToFileURL(join(resolve(oldDist), 'index.js')).href);

// A store of simulated ImageNet-like shards (bench/lib/records.js), written with the v1 writer layout.
const work = mkdtempSync(join(tmpdir(), 'fkd-format-bench-'));
const store = join(work, 'labels');
mkdirSync(join(store, 'shards'), { recursive: true });
const random = seededRandom(9);
const entries = [];
for (let shard = 0; shard < shards; shard++) {
  const { bytes, layout } = simulateShard({ shard, images, epochs, crops, k, classes, random, format: 1 });
  const key = `shards/${String(shard).padStart(6, '0')}.fkd`;
  writeFileSync(join(store, key), bytes);
  entries.push({ index: shard, key, imageStart: shard * images, imageCount: images, records: images * crops * epochs, layout });
}
writeFileSync(
  join(store, 'manifest.json'),
  serializeManifest({
    format: 'fkd-labels', version: 1, complete: true, createdAt: new Date(0).toISOString(), tool: { name: 'fkd', version: '0' },
    dataset: { images: shards * images, classes: Array.from({ length: classes }, (_, c) => `n${String(c).padStart(8, '0')}`), fingerprint: '0'.repeat(64), skipped: [] },
    teacher: { file: 't.onnx', sha256: '0'.repeat(64), engine: 'onnx', backend: 'onnx/cpu', inputSize: 224, layout: 'nchw', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], outputs: 'logits', temperature: 1 },
    sampler: { seed: 0, scale: [0.08, 1], ratio: [0.75, 4 / 3], flip: 0.5, epochs, crops, interpolation: 'bicubic', maxPixels: 268402689 },
    codec: codecDescription(k, 'marginal'), shardImages: images, shards: entries, totals: { records: shards * images * crops * epochs, bytes: entries.reduce((s, e) => s + e.layout.bytes, 0) },
  }),
);

const v1Store = join(root, 'test', 'fixtures', 'v1-store');
const fixtureImages = join(root, 'fixtures', 'images');

// The photo arm's stores: format 2 written by this build, and its format 1 twin for the old one.
const photoStores = {};
if (photos) {
  photoStores.now = join(work, 'photos-v2');
  await now.label({ data: photos, teacher: join(root, 'fixtures', 'teacher', 'tiny.onnx'), out: photoStores.now, epochs: 1, crops: 4, interpolation: 'bilinear', threads: 1 });
  photoStores.before = await writeFormat1Twin(photoStores.now, join(work, 'photos-v1'));
}

const tasks = {
  verify: (fkd) => fkd.verifyStore(store).then((report) => { if (!report.ok) throw new Error(report.problems.join('; ')); }),
  'openLabels + one label epoch': async (fkd) => {
    const labels = await fkd.openLabels(store);
    for (const shard of labels.manifest.shards) {
      await labels.readImages(shard);
      await labels.readEpoch(shard, 1);
    }
  },
  'loader epoch (fixture, 96 crops at 64 px)': async (fkd) => {
    const labels = await fkd.openLabels(v1Store);
    for await (const batch of fkd.createLoader({ data: fixtureImages, labels, epoch: 0, batchSize: 32, size: 64, workers: 0 })) void batch;
  },
  ...(photos && {
    'openLabels + loader epoch (photos, 384 crops at 224 px, 2 threads)': async (fkd) => {
      const labels = await fkd.openLabels(fkd === now ? photoStores.now : photoStores.before);
      for await (const batch of fkd.createLoader({ data: photos, labels, epoch: 0, batchSize: 128, size: 224, layout: 'nchw', workers: 2 })) void batch;
    },
  }),
};

const times = { before: {}, now: {} };
for (let round = 0; round < rounds + warmup; round++) {
  for (const [name, task] of Object.entries(tasks)) {
    for (const [arm, fkd] of round % 2 === 0 ? [['before', before], ['now', now]] : [['now', now], ['before', before]]) {
      // Each arm starts from a collected heap, so neither pays for the other's garbage.
      globalThis.gc?.();
      const started = performance.now();
      await task(fkd);
      const ms = performance.now() - started;
      if (round >= warmup) (times[arm][name] ??= []).push(ms); // the first rounds warm both arms
    }
  }
}
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const results = {};
console.log(`fkd strict-decoder cost: ${shards} shards × ${images} images × ${epochs} label epochs × ${crops} crops, top-${k} of ${classes}; ${rounds} alternated rounds after ${warmup} warm-up rounds, medians; node ${process.version}`);
for (const name of Object.keys(tasks)) {
  const b = median(times.before[name]);
  const n = median(times.now[name]);
  results[name] = { beforeMs: b, nowMs: n, ratio: b / n };
  console.log(`${name.padEnd(Math.max(...Object.keys(tasks).map((task) => task.length)))} before ${b.toFixed(1).padStart(8)} ms   now ${n.toFixed(1).padStart(8)} ms   throughput now/before ${(b / n).toFixed(3)}×`);
}
if (json) writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
rmSync(work, { recursive: true, force: true });
