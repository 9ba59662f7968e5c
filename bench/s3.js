// Object storage and many-machine figures, measured against a local s3rver in one run:
//  (a) the student loader streaming labels from S3 vs from local disk, same data and options
//      (prefetch on, no cacheDir); target ≥ 0.9× local throughput;
//  (b) the label pass as 4 concurrent workers (`--shard i/4`, one machine) + finalize vs one
//      worker, with the bytes written and sent per record.
// Reproduce: npm run build && node bench/run.js --only s3   (or: node bench/s3.js [--data DIR] [--teacher FILE])
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLoader, label, openLabels, openStore, scanDataset } from '../dist/index.js';
import { startCountingProxy, startS3rver } from './lib/s3rver.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(REPO_ROOT, 'bin', 'fkd.js');

/** Label options shared by every arm: several shards, so the loader makes several ranged GETs. */
const LABEL = { epochs: 4, crops: 4, shardImages: 8, interpolation: 'bilinear' };
/** Loader options shared by the local and S3 arms. */
const LOADER = { batchSize: 128, size: 224, layout: 'nchw', dtype: 'float32', prefetch: 2 };
// Epochs here last ~0.2 s, so single pairs swing ±5% on a shared machine: take medians of 7.
const ROUNDS = 7;
const WORKERS = 4;

/**
 * Runs both measurements and returns the figures; `log` receives human-readable lines.
 * @example
 * const r = await benchS3({ data: 'bench/out/data', teacherFile: 'fixtures/teacher/tiny.onnx', log: console.log });
 * console.log(r.ratio);
 */
export async function benchS3({ data, teacherFile, log = () => {} }) {
  const work = mkdtempSync(join(tmpdir(), 'fkd-bench-s3-'));
  const server = await startS3rver('fkd-bench');
  const proxy = await startCountingProxy(server.endpoint);
  const opened = [];
  try {
    // (a) One label set, on disk and uploaded to S3 object by object (the manifest last).
    const local = join(work, 'local');
    await label({ data, teacher: teacherFile, out: local, ...LABEL, threads: availableParallelism() });
    const remoteUrl = `s3://${server.bucket}/loader`;
    const remote = await openStore(remoteUrl, { s3: { endpoint: server.endpoint } });
    opened.push(remote);
    const files = ['config.json', ...readdirSync(join(local, 'shards')).map((name) => `shards/${name}`)];
    for (const key of [...files, 'manifest.json']) await remote.put(key, readFileSync(join(local, key)));

    const dataset = await scanDataset(data);
    const localLabels = await openLabels(local);
    const s3Labels = await openLabels(remoteUrl, { s3: { endpoint: server.endpoint } });
    opened.push(s3Labels.store);
    const runs = { local: [], s3: [] };
    // Alternate the arms so drift on a shared machine hits both alike; one warm-up epoch each.
    await epoch(dataset, localLabels, 0);
    await epoch(dataset, s3Labels, 0);
    for (let round = 0; round < ROUNDS; round++) {
      runs.local.push(await epoch(dataset, localLabels, round + 1));
      runs.s3.push(await epoch(dataset, s3Labels, round + 1));
    }
    const median = (values) => values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const localCropsPerSec = median(runs.local.map((r) => r.cropsPerSec));
    const s3CropsPerSec = median(runs.s3.map((r) => r.cropsPerSec));
    const ratio = s3CropsPerSec / localCropsPerSec;

    // What one S3 epoch reads, counted on the wire (an extra, untimed epoch through the proxy).
    const counted = await openLabels(remoteUrl, { s3: { endpoint: proxy.endpoint } });
    opened.push(counted.store);
    proxy.reset();
    await epoch(dataset, counted, 1);
    const perEpoch = { requests: proxy.counts.requests, gets: proxy.counts.byMethod.GET ?? 0, bytes: proxy.counts.bytesDown, shards: counted.manifest.shards.length };

    log(`loader from S3: ${s3CropsPerSec.toFixed(1)} crops/s; from local disk: ${localCropsPerSec.toFixed(1)} crops/s; ratio ${ratio.toFixed(3)} (target ≥ 0.9)`);
    log(`  medians of ${ROUNDS} alternating epochs; ${dataset.images.length} images × ${LABEL.crops} crops at ${LOADER.size} px, batch ${LOADER.batchSize}, prefetch ${LOADER.prefetch}, no cacheDir`);
    log(`  first batch after: S3 ${median(runs.s3.map((r) => r.firstBatchMs)).toFixed(0)} ms, local ${median(runs.local.map((r) => r.firstBatchMs)).toFixed(0)} ms (label blocks are fetched before the first batch)`);
    log(`  one S3 epoch read ${perEpoch.gets} ranged GETs for ${perEpoch.shards} shards (per shard: image block, this label epoch, and the next one prefetched), ${perEpoch.bytes} bytes`);

    // (b) Label pass: one worker vs 4 concurrent workers + finalize, through the counting proxy.
    const labelArgs = (prefix) => ['label', '--data', data, '--teacher', teacherFile, '--out', `s3://${server.bucket}/${prefix}`, '--s3-endpoint', proxy.endpoint, '--epochs', String(LABEL.epochs), '--crops', String(LABEL.crops), '--shard-images', String(LABEL.shardImages), '--interpolation', LABEL.interpolation];
    proxy.reset();
    let started = performance.now();
    await cli(labelArgs('single'));
    const singleSeconds = (performance.now() - started) / 1000;
    const singleWire = { ...proxy.counts };

    const threads = Math.max(1, Math.floor(availableParallelism() / WORKERS));
    proxy.reset();
    started = performance.now();
    await Promise.all(Array.from({ length: WORKERS }, (_, i) => cli([...labelArgs('sharded'), '--shard', `${i}/${WORKERS}`, '--threads', String(threads)])));
    const workersSeconds = (performance.now() - started) / 1000;
    const finalizeStarted = performance.now();
    await cli(['finalize', `s3://${server.bucket}/sharded`, '--s3-endpoint', proxy.endpoint, '--shards', String(WORKERS)]);
    const finalizeSeconds = (performance.now() - finalizeStarted) / 1000;
    const shardedWire = { ...proxy.counts };

    const single = await storeBytes(`s3://${server.bucket}/single`, server.endpoint, opened);
    const sharded = await storeBytes(`s3://${server.bucket}/sharded`, server.endpoint, opened);
    const identical = single.shardDigest === sharded.shardDigest;
    const result = {
      localCropsPerSec,
      s3CropsPerSec,
      ratio,
      loader: { rounds: runs, perEpoch, options: LOADER },
      labelPass: {
        options: LABEL,
        records: single.records,
        single: { seconds: singleSeconds, objectBytes: single.bytes, objectBytesPerRecord: single.bytes / single.records, wireBytesUp: singleWire.bytesUp, wireBytesPerRecord: singleWire.bytesUp / single.records, requests: singleWire.requests },
        workers: {
          count: WORKERS,
          threadsEach: threads,
          seconds: workersSeconds + finalizeSeconds,
          labelSeconds: workersSeconds,
          finalizeSeconds,
          objectBytes: sharded.bytes,
          objectBytesPerRecord: sharded.bytes / sharded.records,
          wireBytesUp: shardedWire.bytesUp,
          wireBytesPerRecord: shardedWire.bytesUp / sharded.records,
          requests: shardedWire.requests,
        },
        shardsIdentical: identical,
      },
    };
    const p = result.labelPass;
    log(`label pass to S3, ${p.records} records (${dataset.images.length} images × ${LABEL.epochs} epochs × ${LABEL.crops} crops, ${single.shards} shards):`);
    log(`  1 worker: ${p.single.seconds.toFixed(2)} s; ${WORKERS} workers (--shard i/${WORKERS}, --threads ${threads} each, one machine): ${p.workers.labelSeconds.toFixed(2)} s + finalize ${p.workers.finalizeSeconds.toFixed(2)} s = ${p.workers.seconds.toFixed(2)} s (×${(p.single.seconds / p.workers.seconds).toFixed(2)})`);
    log(`  bytes per record: objects ${p.single.objectBytesPerRecord.toFixed(2)} (1 worker) / ${p.workers.objectBytesPerRecord.toFixed(2)} (${WORKERS} workers); sent on the wire ${p.single.wireBytesPerRecord.toFixed(2)} / ${p.workers.wireBytesPerRecord.toFixed(2)} (${p.single.requests} / ${p.workers.requests} requests)`);
    log(`  shard objects of both runs byte-identical: ${identical ? 'yes' : 'NO'}`);
    log(`reproduce: npm run build && node bench/run.js --only s3   (or node bench/s3.js --data ${data} --teacher ${teacherFile})`);
    return result;
  } finally {
    for (const store of opened) store.close?.();
    await proxy.stop();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** One loader epoch: crops per second and time to the first batch. */
async function epoch(dataset, labels, number) {
  const started = performance.now();
  let firstBatchMs = 0;
  let crops = 0;
  for await (const batch of createLoader({ data: dataset, labels, epoch: number, ...LOADER })) {
    if (crops === 0) firstBatchMs = performance.now() - started;
    crops += batch.size;
  }
  const seconds = (performance.now() - started) / 1000;
  return { crops, seconds, cropsPerSec: crops / seconds, firstBatchMs };
}

/** Object bytes of a store (config, shards, entries, manifest), its record count and a digest of its shard objects. */
async function storeBytes(location, endpoint, opened) {
  const store = await openStore(location, { s3: { endpoint } });
  opened.push(store);
  const objects = await store.list('');
  const manifest = JSON.parse(new TextDecoder().decode(await store.get('manifest.json')));
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha256');
  for (const object of objects.filter((o) => o.key.endsWith('.fkd'))) hash.update(object.key).update(await store.get(object.key));
  return { bytes: objects.reduce((sum, o) => sum + o.size, 0), records: manifest.totals.records, shards: manifest.shards.length, shardDigest: hash.digest('hex') };
}

function cli(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`fkd ${args[0]} exited ${code}: ${stderr.slice(-2000)}`))));
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
  const { ensureBenchDataset } = await import('./lib/dataset.js');
  const data = flag('--data') ?? (await ensureBenchDataset(join(REPO_ROOT, 'bench', 'out', 'data'), { classes: 4, perClass: 24 }));
  const teacherFile = flag('--teacher') ?? join(REPO_ROOT, 'fixtures', 'teacher', 'tiny.onnx');
  const result = await benchS3({ data, teacherFile, log: (line) => console.log(line) });
  console.log(JSON.stringify({ localCropsPerSec: result.localCropsPerSec, s3CropsPerSec: result.s3CropsPerSec, ratio: result.ratio }));
}
