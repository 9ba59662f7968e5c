// Loader epochs over the bench photos (openLabels + createLoader, 224 px, 4 crops/image, NCHW,
// batch 64, 2 render threads) on several builds of fkd, alternated in one process: medians of
// `--rounds` rounds per build and dtype, after one warm-up round each. The first build is the
// baseline of the printed ratios. Each build starts its own render threads; only one build's
// threads work at a time.
// Usage: node bench/loader-builds.js --data DIR --labels STORE [--rounds 5] [--json FILE] <dist> [<dist>...]
//   build a commit's dist with bench/lib/build-at.js (npm run bench does, for the loader section).
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const [value] = args.splice(at, 2).slice(1);
  return value;
};
const data = flag('--data');
const store = flag('--labels');
const rounds = Number(flag('--rounds', '5'));
const json = flag('--json');
const dists = args;
if (!data || !store || dists.length === 0) throw new Error('usage: node bench/loader-builds.js --data DIR --labels STORE [--rounds N] [--json FILE] <dist> [<dist>...]');
const builds = await Promise.all(dists.map((dist) => import(`${dist}/index.js`)));

async function epoch(fkd, dtype) {
  const labels = await fkd.openLabels(store);
  const cpu = process.cpuUsage();
  const started = performance.now();
  let crops = 0;
  for await (const batch of fkd.createLoader({ data, labels, epoch: 0, batchSize: 64, size: 224, layout: 'nchw', dtype, workers: 2 })) crops += batch.size;
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { cropsPerSec: crops / seconds, cpuMsPerCrop: (used.user + used.system) / 1000 / crops, systemShare: used.system / (used.user + used.system) };
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const results = {};
for (const dtype of ['float32', 'uint8']) {
  const runs = dists.map(() => []);
  for (let round = 0; round <= rounds; round++) {
    for (const [i, fkd] of builds.entries()) {
      const r = await epoch(fkd, dtype);
      if (round > 0) runs[i].push(r);
    }
  }
  results[dtype] = dists.map((dist, i) => ({
    dist,
    cropsPerSec: median(runs[i].map((r) => r.cropsPerSec)),
    cpuMsPerCrop: median(runs[i].map((r) => r.cpuMsPerCrop)),
    systemShare: median(runs[i].map((r) => r.systemShare)),
    rounds: runs[i].map((r) => Math.round(r.cropsPerSec)),
  }));
  const [base] = results[dtype];
  for (const r of results[dtype]) {
    console.log(`${dtype} ${relative(process.cwd(), r.dist) || '.'}: ${r.cropsPerSec.toFixed(0)} crops/s (${r.rounds.join(', ')}), ${r.cpuMsPerCrop.toFixed(3)} ms CPU/crop, system ${(100 * r.systemShare).toFixed(1)}% → ÷ first ${(r.cropsPerSec / base.cropsPerSec).toFixed(3)} (CPU per crop ${(base.cpuMsPerCrop / r.cpuMsPerCrop).toFixed(3)})`);
  }
}
if (json) writeFileSync(json, `${JSON.stringify(results, null, 1)}\n`);
process.exit(0);
