// One fixture loader epoch (openLabels + 96 crops at 64 px, no render threads, the committed
// format 1 store) on several builds of fkd, alternated in one process, medians of 30 rounds
// after 10 warm-up rounds, each from a collected heap. It attributes a per-pass cost to the
// commit that brought it (docs/BENCHMARKS.md, issue 9).
// Usage: node --expose-gc bench/fixture-epoch-builds.js <dist> [<dist>...]
//   build a commit's dist with bench/lib/build-at.js, e.g.
//   node -e "import('./bench/lib/build-at.js').then((m) => console.log(m.buildAt(process.cwd(), '416cdf1', 'bench/out')))"
import { fileURLToPath } from 'node:url';

const dists = process.argv.slice(2);
if (dists.length === 0) throw new Error('usage: node --expose-gc bench/fixture-epoch-builds.js <dist> [<dist>...]');
const builds = await Promise.all(dists.map((dist) => import(`${dist}/index.js`)));
const store = fileURLToPath(new URL('../test/fixtures/v1-store', import.meta.url));
const images = fileURLToPath(new URL('../fixtures/images', import.meta.url));
const times = dists.map(() => []);
for (let round = 0; round < 40; round++) {
  for (const [i, fkd] of builds.entries()) {
    globalThis.gc?.();
    const started = performance.now();
    const labels = await fkd.openLabels(store);
    for await (const batch of fkd.createLoader({ data: images, labels, epoch: 0, batchSize: 32, size: 64, workers: 0 })) void batch;
    if (round >= 10) times[i].push(performance.now() - started);
  }
}
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
dists.forEach((dist, i) => console.log(`${dist}: ${median(times[i]).toFixed(1)} ms per fixture epoch`));
