// One measured step of `fkd bench scale`, in a fresh process so that its time and peak RSS
// are its own: `node dist/measure/scale-step.js <open|info|verify|scan> <location>`, or
// `generate <location> <images> <slice> <slices>` to write one slice of a synthetic store.
// `plan <location>` builds one loader epoch's plan of a synthetic store (the scan it stands for
// is synthesised, not read: the image files do not exist). Prints one JSON line: { seconds, rssMB, maxRssMB, detail }.
import { storeInfo } from '../check/info.js';
import { verifyStore } from '../check/verify.js';
import { scanDataset } from '../dataset/scan.js';
import { planShards } from '../store/shards.js';
import { openLabels } from '../store/labels.js';
import { planEpoch } from '../loader/index.js';
import { makeSyntheticStore, syntheticDataset } from './synthetic-store.js';

const [step, location] = process.argv.slice(2);
const started = performance.now();
let detail: unknown;
if (step === 'open') {
  const labels = await openLabels(location!);
  detail = { shards: labels.manifest.shards.length, records: labels.manifest.totals.records };
} else if (step === 'plan') {
  // Only planEpoch is timed: opening the store is the `open` step's figure.
  const labels = await openLabels(location!);
  const dataset = syntheticDataset(location!, labels.manifest.dataset.images);
  const planning = performance.now();
  const plan = await planEpoch({ labels, dataset, epoch: 0, seed: 0, rank: 0, worldSize: 1, skip: false, skipped: { skippedImages: [], skippedShards: [] } });
  detail = { rows: plan.order.length, planSec: (performance.now() - planning) / 1000 };
} else if (step === 'info') {
  const info = await storeInfo(location!);
  detail = { images: info.images, records: info.records, totalBytes: info.totalBytes };
} else if (step === 'verify') {
  const report = await verifyStore(location!);
  detail = { ok: report.ok, shards: report.shards.checked, problems: report.problems.slice(0, 3) };
} else if (step === 'generate') {
  const [images, index, count] = process.argv.slice(4).map(Number);
  await makeSyntheticStore(location!, { images: images!, slice: { index: index!, count: count! } });
} else if (step === 'scan') {
  // The label pass's first two steps on an ImageFolder tree: the scan (with its fingerprint) and the shard plan.
  const dataset = await scanDataset(location!);
  const scanned = performance.now();
  const plan = planShards(dataset.images.length, 1000);
  detail = { images: dataset.images.length, classes: dataset.classes.length, shards: plan.length, scanSec: (scanned - started) / 1000, planSec: (performance.now() - scanned) / 1000 };
} else {
  throw new Error(`unknown step ${step}`);
}
const seconds = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ seconds, rssMB: process.memoryUsage().rss / 2 ** 20, maxRssMB: process.resourceUsage().maxRSS / 1024, detail })}\n`);
