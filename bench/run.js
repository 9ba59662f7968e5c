// npm run bench: every figure is printed next to the baseline it is compared with, both
// measured in this run (the machine is shared and noisy, so absolute numbers drift).
// Reproduce: npm run bench   (or node bench/run.js --only label|records|loader|mix|torch|format|s3 after npm run build)
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { label } from '../dist/generate/label.js';
import { benchLabel, benchLabelVersusLoader } from '../dist/measure/label.js';
import { benchLoader } from '../dist/measure/loader.js';
import { benchMix } from '../dist/measure/mix.js';
import { ensureBenchDataset } from './lib/dataset.js';
import { exportBoxes, pytorchUnavailable, runPytorchLoader } from './lib/pytorch.js';
import { writeFormat1Twin } from './lib/format1.js';
import { hashSeconds } from './lib/hash-cost.js';
import { buildAt } from './lib/build-at.js';
import { recordSize } from './lib/records.js';
import { ensureResnet18 } from './make-resnet18.js';
import { ensurePoolTeacher } from './make-pool-teacher.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
const want = (name) => only === null || only === name;
const out = join(here, 'out');
mkdirSync(out, { recursive: true });
const results = { date: new Date().toISOString(), node: process.version, cpu: `${cpus()[0]?.model} × ${availableParallelism()}`, loadavg: loadavg() };
const log = (text) => console.log(text);

log(`# fkd bench, ${results.date}`);
log(`machine: ${results.cpu}, node ${results.node}, load average ${results.loadavg.map((l) => l.toFixed(2)).join(' ')}`);
const data = await ensureBenchDataset(join(out, 'data'), { classes: 4, perClass: 24 });
log(`data: ${data} (96 synthetic 500×375 JPEGs, ~75 KB each, 4 classes)`);

if (want('label')) {
  const teacher = await ensureResnet18({ classes: 4 });
  log('\n## Label pass vs teacher alone (ResNet-18 architecture, random weights, ONNX CPU, 224 px, batch 32)');
  const r = await benchLabel({ data, teacher, epochs: 4, crops: 4, batch: 32 });
  results.label = r;
  log(`label pass: ${r.labelCropsPerSec.toFixed(1)} crops/s; teacher alone: ${r.teacherOnlyCropsPerSec.toFixed(1)} crops/s; ratio ${r.ratio.toFixed(3)} (target ≥ 0.85)`);
  log(`decodes per image: ${r.decodesPerImage.toFixed(2)}; ${r.images} images × 16 crops; ${r.threads} threads`);
  // Format 2's content hash, priced against this pass (each image is hashed once per pass).
  const hash = await hashSeconds(data);
  const labelSeconds = (r.images * 16) / r.labelCropsPerSec;
  r.contentHash = { hashSec: hash.seconds, labelPassSec: labelSeconds, share: hash.seconds / labelSeconds };
  log(`content hashes (format 2): SHA-256 of all ${hash.files} files (${(hash.bytes / 1e6).toFixed(1)} MB) ${(1000 * hash.seconds).toFixed(1)} ms, median of 7 = ${(100 * r.contentHash.share).toFixed(2)}% of this ${labelSeconds.toFixed(1)} s pass (target < 2%)`);
  log(`reference, not measured here: FKD's own PyTorch pass ran at 59 crops/s on this kind of machine (NOTES §3)`);
  log(`reproduce: node bin/fkd.js bench label --data ${data} --teacher ${teacher} --epochs 4 --crops 4`);

  // The GPU regime: a teacher that costs nothing leaves the pass's own CPU side, which should keep up with the loader.
  const photos = await ensureBenchDataset(join(out, 'data-384'), { classes: 4, perClass: 96 });
  const free = await ensurePoolTeacher({ classes: 4 });
  log('\n## Label pass with a near-free teacher vs the loader (global average pool + 1×1 conv, 224 px, 4 crops/image, 1 label epoch, bilinear, 384 photos)');
  results.labelVersusLoader = {};
  for (const renderThreads of [availableParallelism(), 1, 0]) {
    const v = await benchLabelVersusLoader({ data: photos, teacher: free, crops: 4, rounds: renderThreads === availableParallelism() ? 5 : 3, renderThreads });
    results.labelVersusLoader[renderThreads] = v;
    const rounds = v.rounds.map((r) => (r.labelCropsPerSec / r.loaderCropsPerSec).toFixed(2)).join(', ');
    log(
      `${renderThreads} render threads (loader: ${availableParallelism()}): label pass ${v.labelCropsPerSec.toFixed(0)} crops/s, loader ${v.loaderCropsPerSec.toFixed(0)} crops/s; ratio ${v.ratio.toFixed(3)}, median of ${v.rounds.length} alternated rounds (${rounds})` +
        `${renderThreads === availableParallelism() ? ' (target ≥ 0.9)' : ''}; CPU per crop ${v.labelCpuMsPerCrop.toFixed(2)} ms vs ${v.loaderCpuMsPerCrop.toFixed(2)} ms`,
    );
  }
}

if (want('records')) {
  log('\n## Bytes per record, everything included (shards, entries, manifest), on simulated teacher outputs');
  log('   (no pretrained teacher is available offline; see bench/lib/records.js for the simulation)');
  results.records = [];
  for (const [k, classes] of [[1, 1000], [5, 1000], [10, 1000], [5, 100], [5, 21843]]) {
    const r = recordSize({ k, classes, epochs: 10, crops: 4 });
    results.records.push(r);
    log(`top-${String(k).padEnd(2)} of ${String(classes).padStart(5)} classes: ${r.bytesPerRecord.toFixed(2)} B/record (${r.shardBytesPerRecord.toFixed(2)} in shards)${k === 5 && classes === 1000 ? '  (target ≤ 16; FKD 122.5, TinyViT 24)' : ''}`);
  }
  const like = recordSize({ k: 5, classes: 1000, epochs: 10, crops: 4, boxes: false });
  results.records.push(like);
  log(`a --like store of the top-5 one (labels blocks, boxes from its base): ${like.bytesPerRecord.toFixed(2)} B/record added beside the base's ${results.records[1].bytesPerRecord.toFixed(2)} (target ≤ 10)`);
  if (results.label) log(`the label bench store above (random-weight teacher, 4 classes): ${results.label.bytesPerRecord.toFixed(2)} B/record`);
}

if (want('loader')) {
  log('\n## Loader vs decode-per-crop baseline (224 px, 4 crops/image, NCHW, bilinear, 2 render threads, same order)');
  const tiny = fileURLToPath(new URL('../fixtures/teacher/tiny.onnx', import.meta.url));
  const stores = {};
  const labelSeconds = {};
  for (const crops of [1, 2, 4, 8]) {
    const store = join(tmpdir(), `fkd-bench-loader-${crops}`);
    rmSync(store, { recursive: true, force: true });
    const started = performance.now();
    await label({ data, teacher: tiny, out: store, epochs: 1, crops, interpolation: 'bilinear', threads: 1 });
    labelSeconds[crops] = (performance.now() - started) / 1000;
    stores[crops] = store;
  }
  const main = await benchLoader({ data, labels: stores[4], size: 224, epochs: 4, workers: 2, memoryEpochs: 20 });
  results.loader = main;
  log(`float32: loader ${main.cropsPerSec.toFixed(1)} crops/s (${main.imagesPerSec.toFixed(1)} images/s, ${main.decodesPerImage.toFixed(2)} decodes/image); baseline ${main.baselineCropsPerSec.toFixed(1)} crops/s; ratio ${main.ratio.toFixed(3)} (target ≥ 3.0); peak RSS ${main.peakRssMB.toFixed(0)} MB; ${main.workers} render threads`);
  const rss = Object.entries(main.rssAfterEpochMB).map(([epoch, mb]) => `${epoch}: ${mb.toFixed(0)} MB`).join(', ');
  log(`  main thread busy ${(100 * main.mainThreadBusy).toFixed(1)}% of the epoch (target < 15%); system time ${(100 * main.systemShare).toFixed(1)}% of CPU time (target < 10%); RSS after epochs ${rss} (target: flat)`);
  // The same arm with every JPEG decoded by sharp: what the in-thread decoder changes.
  const viaSharp = await benchLoader({ data, labels: stores[4], size: 224, epochs: 4, workers: 2, decoder: 'sharp' });
  results.loaderSharpDecoder = viaSharp;
  log(`  with --decoder sharp (libvips on libuv's pool): ${viaSharp.cropsPerSec.toFixed(1)} crops/s → in-thread ÷ sharp ${(main.cropsPerSec / viaSharp.cropsPerSec).toFixed(3)}; system time ${(100 * viaSharp.systemShare).toFixed(1)}% of CPU time, main thread busy ${(100 * viaSharp.mainThreadBusy).toFixed(1)}%`);
  const bytes = await benchLoader({ data, labels: stores[4], size: 224, epochs: 4, workers: 2, dtype: 'uint8' });
  results.loaderUint8 = bytes;
  log(`uint8:   loader ${bytes.cropsPerSec.toFixed(1)} crops/s; baseline ${bytes.baselineCropsPerSec.toFixed(1)} crops/s; ratio ${bytes.ratio.toFixed(3)}; uint8 ÷ float32 loader ${(bytes.cropsPerSec / main.cropsPerSec).toFixed(2)}`);
  log(`reproduce: node bin/fkd.js bench loader --data ${data} --labels ${stores[4]} --epochs 4 --workers 2`);
  // Before and after the in-thread decoder and rendering straight into the ring: the build they started from, alternated with this one.
  const before = '8edb664';
  const prior = buildAt(fileURLToPath(new URL('..', import.meta.url)), before, out);
  if (prior.reason) {
    results.loaderBuilds = { ran: false, reason: prior.reason };
    log(`this build ÷ ${before}: not run (${prior.reason})`);
  } else {
    const json = join(out, 'loader-builds.json');
    const { execFileSync } = await import('node:child_process');
    log(`this build ÷ ${before} (openLabels + createLoader epochs, 224 px, 4 crops, NCHW, 2 threads; alternated, medians of 7; the first line of each pair is ${before}):`);
    log(execFileSync(process.execPath, ['--no-warnings', join(here, 'loader-builds.js'), '--data', data, '--labels', stores[4], '--rounds', '7', '--json', json, prior.dist, fileURLToPath(new URL('../dist', import.meta.url))], { encoding: 'utf8' }).trimEnd());
    results.loaderBuilds = { ran: true, commit: before, ...JSON.parse(readFileSync(json, 'utf8')) };
  }
  log('\n## fkd loader ÷ a PyTorch loader built the way FKD\'s is (ImageFolder + PIL, resized_crop bilinear antialias + flip, normalise, DataLoader 2 workers; same photos, same stored boxes, 224 px, 4 crops)');
  const missing = pytorchUnavailable();
  if (missing) {
    results.pytorch = { ran: false, reason: missing };
    log(`not run: ${missing}. No fkd ÷ PyTorch ratio is printed.`);
  } else {
    const boxes = join(out, 'pytorch-boxes.json');
    await exportBoxes(stores[4], data, 224, boxes);
    // Three alternated rounds (PyTorch, then the fkd arms), medians: a single pair swings with
    // whatever else the host runs, and PyTorch's worker processes feel it more than fkd's threads.
    const rounds = { torch: [], float32: [], uint8: [] };
    let torch;
    for (let round = 0; round < 3; round++) {
      torch = runPytorchLoader(boxes, { epochs: 2, workers: 2, batchImages: 32 });
      rounds.torch.push(torch.cropsPerSec);
      rounds.float32.push((await benchLoader({ data, labels: stores[4], size: 224, epochs: 2, workers: 2 })).cropsPerSec);
      rounds.uint8.push((await benchLoader({ data, labels: stores[4], size: 224, epochs: 2, workers: 2, dtype: 'uint8' })).cropsPerSec);
    }
    const mid = (list) => [...list].sort((a, b) => a - b)[1];
    const torchRate = mid(rounds.torch);
    results.pytorch = { ran: true, ...torch, rounds, cropsPerSec: torchRate, fkdFloat32CropsPerSec: mid(rounds.float32), fkdUint8CropsPerSec: mid(rounds.uint8), ratioFloat32: mid(rounds.float32) / torchRate, ratioUint8: mid(rounds.uint8) / torchRate };
    const each = (list) => list.map((rate) => rate.toFixed(0)).join(', ');
    log(`PyTorch ${torch.torch}: ${torchRate.toFixed(1)} crops/s, median of 3 alternated rounds (${each(rounds.torch)}; ${torch.workers} DataLoader workers, batches of ${torch.batchCrops} crops)`);
    log(`fkd float32: ${results.pytorch.fkdFloat32CropsPerSec.toFixed(1)} crops/s (${each(rounds.float32)}) → fkd ÷ PyTorch ${results.pytorch.ratioFloat32.toFixed(2)} (target ≥ 2)`);
    log(`fkd uint8:   ${results.pytorch.fkdUint8CropsPerSec.toFixed(1)} crops/s (${each(rounds.uint8)}) → fkd ÷ PyTorch ${results.pytorch.ratioUint8.toFixed(2)} (PyTorch arm is float32 normalised, as FKD's)`);
    log(`reproduce: /usr/bin/python3 bench/pytorch_loader.py ${boxes} --epochs 2 --workers 2`);
  }
  results.loaderGrowth = { crops: [], sizes: [] };
  for (const crops of [1, 2, 4, 8]) {
    const r = await benchLoader({ data, labels: stores[crops], size: 224, epochs: 2, workers: 2 });
    results.loaderGrowth.crops.push({ crops, cropsPerSec: r.cropsPerSec, baselineCropsPerSec: r.baselineCropsPerSec, ratio: r.ratio });
    log(`  ${crops} crops/image at 224 px: ${r.cropsPerSec.toFixed(1)} crops/s vs ${r.baselineCropsPerSec.toFixed(1)} baseline (×${r.ratio.toFixed(2)})`);
  }
  for (const size of [128, 224, 320]) {
    const r = await benchLoader({ data, labels: stores[4], size, epochs: 2, workers: 2 });
    results.loaderGrowth.sizes.push({ size, cropsPerSec: r.cropsPerSec, baselineCropsPerSec: r.baselineCropsPerSec, ratio: r.ratio });
    log(`  4 crops/image at ${size} px: ${r.cropsPerSec.toFixed(1)} crops/s vs ${r.baselineCropsPerSec.toFixed(1)} baseline (×${r.ratio.toFixed(2)})`);
  }
  log('\n## Content hashes (format 2): their cost in the label pass and in the loader');
  // Label pass, worst case: the cheapest teacher (tiny.onnx, 4 crops), so the hash's share is as
  // large as it gets. The label section above prices it against a ResNet-18 pass.
  const { scanDataset } = await import('../dist/dataset/scan.js');
  const listing = await scanDataset(data);
  const hash = await hashSeconds(data);
  // Loader: the 4-crop store against its format 1 twin (same boxes, no hashes), alternated.
  const twin = await writeFormat1Twin(stores[4], join(tmpdir(), 'fkd-bench-loader-4-format1'));
  const { createLoader } = await import('../dist/loader/loader.js');
  const { openLabels } = await import('../dist/store/labels.js');
  const arms = { checked: await openLabels(stores[4]), unchecked: await openLabels(twin) };
  const times = { checked: [], unchecked: [] };
  for (let round = 0; round < 7; round++) {
    for (const arm of round % 2 === 0 ? ['checked', 'unchecked'] : ['unchecked', 'checked']) {
      const started = performance.now();
      for await (const batch of createLoader({ data: listing, labels: arms[arm], epoch: 0, batchSize: 128, size: 224, layout: 'nchw', workers: 2 })) void batch;
      if (round > 0) times[arm].push(performance.now() - started);
    }
  }
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  results.contentHash = {
    tinyLabelPassSec: labelSeconds[4], hashSec: hash.seconds, tinyLabelShare: hash.seconds / labelSeconds[4],
    loaderCheckedMs: median(times.checked), loaderUncheckedMs: median(times.unchecked), loaderRatio: median(times.unchecked) / median(times.checked),
  };
  const c = results.contentHash;
  log(`label pass, worst case (tiny.onnx, 4 crops; the ResNet-18 share is in the label section): ${c.tinyLabelPassSec.toFixed(2)} s; SHA-256 of all ${hash.files} files ${(1000 * c.hashSec).toFixed(1)} ms, median of 7 = ${(100 * c.tinyLabelShare).toFixed(2)}% of it`);
  log(`loader epoch, 224 px, 2 threads, median of 6 alternated: format 2 (checked) ${c.loaderCheckedMs.toFixed(0)} ms, its format 1 twin (unchecked) ${c.loaderUncheckedMs.toFixed(0)} ms → throughput checked ÷ unchecked ${c.loaderRatio.toFixed(3)} (target ≥ 0.98)`);
  log(`reproduce: npm run build && node bench/run.js --only loader`);
  rmSync(twin, { recursive: true, force: true });

  log('\n## Two teachers on the same crops (openEnsemble) against one');
  const likeStore = join(tmpdir(), 'fkd-bench-loader-4-like');
  rmSync(likeStore, { recursive: true, force: true });
  await label({ data, teacher: tiny, out: likeStore, like: stores[4], threads: 1 });
  const { openEnsemble } = await import('../dist/store/ensemble.js');
  const teachers = { one: await openLabels(stores[4]), two: await openEnsemble([stores[4], likeStore]) };
  const teacherTimes = { one: [], two: [] };
  // Process CPU time, every thread: the work a second teacher adds, steadier than wall time here.
  const teacherCpu = { one: [], two: [] };
  for (let round = 0; round < 9; round++) {
    for (const arm of round % 2 === 0 ? ['one', 'two'] : ['two', 'one']) {
      const started = performance.now();
      const cpuStarted = process.cpuUsage();
      for await (const batch of createLoader({ data: listing, labels: teachers[arm], epoch: 0, batchSize: 128, size: 224, layout: 'nchw', workers: 2 })) void batch.targets.dense();
      const cpu = process.cpuUsage(cpuStarted);
      if (round > 0) teacherTimes[arm].push(performance.now() - started);
      if (round > 0) teacherCpu[arm].push((cpu.user + cpu.system) / 1000);
    }
  }
  // The bench photos have 4 classes; the merge's own cost at ImageNet's 1000, top-5 + top-5, per record:
  const { mergeTeachers } = await import('../dist/labels/ensemble.js');
  const rows = 4000;
  // Distinct classes per row, overlapping between the two teachers on about half of them.
  const simulated = [0, 1].map((teacher) => ({
    classes: Uint32Array.from({ length: rows * 5 }, (_, q) => (Math.floor(q / 5) * 7 + (q % 5) * 13 + teacher * (q % 2) * 500) % 1000),
    probs: Float32Array.from({ length: rows * 5 }, (_, q) => 0.4 / (1 + (q % 5))),
    k: 5,
    mode: 'marginal',
  }));
  // One untimed round first: the figure is the compiled merge, not its first run.
  mergeTeachers(simulated, [0.5, 0.5], 1000, rows);
  const mergeStarted = performance.now();
  for (let i = 0; i < 5; i++) mergeTeachers(simulated, [0.5, 0.5], 1000, rows);
  const mergeMicros = ((performance.now() - mergeStarted) * 1000) / (5 * rows);
  results.ensemble = { oneMs: median(teacherTimes.one), twoMs: median(teacherTimes.two), ratio: median(teacherTimes.one) / median(teacherTimes.two), cpuRatio: median(teacherCpu.one) / median(teacherCpu.two), mergeMicrosPerRecordAt1000Classes: mergeMicros };
  const t = results.ensemble;
  log(`loader epoch with dense targets, median of 8 alternated: one teacher ${t.oneMs.toFixed(0)} ms, two ${t.twoMs.toFixed(0)} ms → throughput two ÷ one ${t.ratio.toFixed(3)} (target ≥ 0.95; 4 classes here); by CPU time ${t.cpuRatio.toFixed(3)}`);
  log(`the merge at 1000 classes, top-5 + top-5: ${t.mergeMicrosPerRecordAt1000Classes.toFixed(2)} µs per record, against ${(1e6 / main.cropsPerSec).toFixed(0)} µs per crop for the loader above`);
  rmSync(likeStore, { recursive: true, force: true });
  for (const store of Object.values(stores)) rmSync(store, { recursive: true, force: true });
}

if (want('mix')) {
  log('\n## Loader with Mixup/CutMix on ÷ off (α 1, every crop mixed; 224 px, 4 crops/image, NCHW, 2 render threads, batch 32, median of 8 alternated epochs)');
  const store = join(tmpdir(), 'fkd-bench-mix');
  rmSync(store, { recursive: true, force: true });
  await label({ data, teacher: fileURLToPath(new URL('../fixtures/teacher/tiny.onnx', import.meta.url)), out: store, epochs: 1, crops: 4, interpolation: 'bilinear', threads: 1 });
  results.mix = [];
  for (const mode of ['cutmix', 'mixup', 'both']) {
    for (const dtype of ['float32', 'uint8']) {
      const r = await benchMix({ data, labels: store, mix: { mode, alpha: 1 }, size: 224, workers: 2, dtype, batchSize: 32, rounds: 9 });
      results.mix.push({ mode, ...r });
      log(`${mode.padEnd(6)} ${dtype.padEnd(7)}: mix off ${r.offCropsPerSec.toFixed(1)} crops/s, on ${r.onCropsPerSec.toFixed(1)} crops/s → on ÷ off ${r.ratio.toFixed(3)} (target ≥ 0.9); by CPU time ${r.cpuRatio.toFixed(3)}`);
    }
  }
  log('reproduce: npm run build && node bench/run.js --only mix');
  rmSync(store, { recursive: true, force: true });
}

if (want('torch')) {
  log('\n## PyTorch client (fkd serve → fkd.torch.Loader) ÷ the in-process Node loader, and ÷ an FKD-style PyTorch DataLoader (224 px, 4 crops/image, NCHW, batch 128, 2 render threads, medians of 3 alternated rounds of 2 epochs)');
  const missing = pytorchUnavailable();
  if (missing) {
    results.torchClient = { ran: false, reason: missing };
    log(`not run: ${missing}.`);
  } else {
    const { execFileSync } = await import('node:child_process');
    const { createLoader } = await import('../dist/loader/loader.js');
    const { openLabels } = await import('../dist/store/labels.js');
    const { scanDataset } = await import('../dist/dataset/scan.js');
    const store = join(tmpdir(), 'fkd-bench-torch');
    rmSync(store, { recursive: true, force: true });
    await label({ data, teacher: fileURLToPath(new URL('../fixtures/teacher/tiny.onnx', import.meta.url)), out: store, epochs: 1, crops: 4, interpolation: 'bilinear', threads: 1 });
    const listing = await scanDataset(data);
    const labels = await openLabels(store);
    const python = process.env.FKD_BENCH_PYTHON ?? '/usr/bin/python3';
    const client = (dtype, extra = []) =>
      JSON.parse(execFileSync(python, [join(here, 'torch_client.py'), '--data', data, '--labels', store, '--dtype', dtype, '--epochs', '2', ...extra], { encoding: 'utf8' }).trim().split('\n').pop());
    const inProcess = async (dtype) => {
      const started = performance.now();
      let crops = 0;
      for (let epoch = 0; epoch < 2; epoch++) {
        for await (const batch of createLoader({ data: listing, labels, epoch, batchSize: 128, size: 224, layout: 'nchw', workers: 2, dtype })) crops += batch.size;
      }
      return crops / ((performance.now() - started) / 1000);
    };
    const boxes = join(out, 'pytorch-boxes-torch.json');
    await exportBoxes(store, data, 224, boxes);
    const rounds = { node: { uint8: [], float32: [] }, python: { uint8: [], float32: [] }, cpu: { uint8: [], float32: [] }, torch: [] };
    for (let round = 0; round < 3; round++) {
      for (const dtype of ['uint8', 'float32']) {
        rounds.node[dtype].push(await inProcess(dtype));
        const r = client(dtype);
        rounds.python[dtype].push(r.cropsPerSec);
        rounds.cpu[dtype].push(r.clientCpuMsPerBatch);
      }
      rounds.torch.push(runPytorchLoader(boxes, { epochs: 2, workers: 2, batchImages: 32 }).cropsPerSec);
    }
    const mid = (list) => [...list].sort((a, b) => a - b)[1];
    const memory = client('uint8', ['--epochs', '1', '--memory-epochs', '20']);
    results.torchClient = { ran: true, rounds, serverRssAfterEpochMB: memory.serverRssAfterEpochMB };
    for (const dtype of ['uint8', 'float32']) {
      const node = mid(rounds.node[dtype]);
      const py = mid(rounds.python[dtype]);
      const torchRate = mid(rounds.torch);
      results.torchClient[dtype] = { pythonCropsPerSec: py, nodeCropsPerSec: node, ratioToNode: py / node, pytorchCropsPerSec: torchRate, ratioToPytorch: py / torchRate, clientCpuMsPerBatch: mid(rounds.cpu[dtype]) };
      const r = results.torchClient[dtype];
      log(`${dtype.padEnd(7)}: Python (torch tensors) ${py.toFixed(1)} crops/s, in-process Node ${node.toFixed(1)} → ${r.ratioToNode.toFixed(3)} (target ≥ 0.9); ÷ PyTorch DataLoader ${torchRate.toFixed(1)} → ${r.ratioToPytorch.toFixed(2)} (target ≥ 2); client CPU ${r.clientCpuMsPerBatch.toFixed(2)} ms per 128-crop batch`);
    }
    log(`server RSS after epochs ${Object.entries(memory.serverRssAfterEpochMB).map(([epoch, mb]) => `${epoch}: ${mb.toFixed(0)} MB`).join(', ')} (target: flat)`);
    log(`reproduce: npm run build && node bench/run.js --only torch`);
    rmSync(store, { recursive: true, force: true });
  }
}

if (want('format')) {
  // The build just before the strict decoder (issue 9), so its checks are priced in one run.
  const commit = '47be659';
  log(`\n## Strict decoder and content checks: this build ÷ the build before them (${commit}), alternated in one run`);
  const old = buildAt(fileURLToPath(new URL('..', import.meta.url)), commit, out);
  if (old.reason) {
    results.format = { ran: false, reason: old.reason };
    log(`not run: ${old.reason}`);
  } else {
    const json = join(out, 'format-checks.json');
    const { execFileSync } = await import('node:child_process');
    // A child with --expose-gc: each arm starts from a collected heap.
    const printed = execFileSync(process.execPath, ['--expose-gc', '--no-warnings', join(here, 'format-checks.js'), old.dist, '--photos', data, '--json', json], { encoding: 'utf8' });
    log(printed.trimEnd());
    results.format = { ran: true, commit, ...JSON.parse(readFileSync(json, 'utf8')) };
    log('target: throughput now/before ≥ 0.97 for verify and for openLabels + a loader epoch');
    log(`reproduce: npm run build && node bench/run.js --only format`);
  }
}

if (want('wds')) {
  log('\n## WebDataset shards (fkd pack) vs the ImageFolder they were packed from (best of 3 alternated rounds)');
  const { benchShardSets } = await import('../dist/measure/webdataset.js');
  const { startS3rver } = await import('../scripts/lib/s3rver.js');
  const server = await startS3rver({ bucket: 'fkd-bench-wds' });
  try {
    const tiny = fileURLToPath(new URL('../fixtures/teacher/tiny.onnx', import.meta.url));
    const r = await benchShardSets({ data, teacher: tiny, s3: { location: `s3://${server.bucket}/wds`, store: { s3: { endpoint: server.endpoint } } } });
    results.webdataset = r;
    log(`label pass (tiny.onnx, 1 epoch × 4 crops): folder ${r.label.folder.toFixed(1)} images/s, local shards ${r.label.shards.toFixed(1)}; shards ÷ folder ${r.label.ratio.toFixed(3)} (target ≥ 0.95)`);
    log(`loader (224 px, 4 crops/image, 2 render threads): folder ${r.loader.folder.toFixed(1)} crops/s, local shards ${r.loader.shards.toFixed(1)}, S3 shards (local s3rver) ${r.loader.s3.toFixed(1)}`);
    log(`  local shards ÷ folder ${r.loader.shardsOverFolder.toFixed(3)} (target ≥ 1.0); S3 shards ÷ local shards ${r.loader.s3OverShards.toFixed(3)} (target ≥ 0.9)`);
    log(`time to first batch: folder ${r.firstBatchMs.folder.toFixed(0)} ms, local shards ${r.firstBatchMs.shards.toFixed(0)} ms, S3 shards ${r.firstBatchMs.s3.toFixed(0)} ms`);
    log('every shard arm reads each image as one ranged read (one S3 GET per image); reproduce: npm run build && node bench/run.js --only wds');
  } finally {
    await server.stop();
  }
}

if (want('s3') && existsSync(join(here, 's3.js'))) {
  log('\n## Object storage (local s3rver) and sharded labelling');
  const { benchS3 } = await import('./s3.js');
  results.s3 = await benchS3({ data, teacherFile: fileURLToPath(new URL('../fixtures/teacher/tiny.onnx', import.meta.url)), log });
}

const file = join(out, `results-${results.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
log(`\nresults written to ${file}`);
