// Runs bench/pytorch_loader.py (FKD's loader design in PyTorch) on the same photos and the
// same stored boxes as the fkd loader arm, when Debian's python3-torch is installed.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openLabels } from '../../dist/index.js';

const SCRIPT = fileURLToPath(new URL('../pytorch_loader.py', import.meta.url));
/** Debian's interpreter, where python3-torch installs; a pyenv or venv python3 on PATH usually lacks it. */
const PYTHON = process.env.FKD_BENCH_PYTHON ?? '/usr/bin/python3';

/**
 * Why the PyTorch reference cannot run here, or null when it can.
 * @example const reason = pytorchUnavailable();
 */
export function pytorchUnavailable() {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision, PIL; print(torch.__version__, torchvision.__version__)'], { encoding: 'utf8' });
  if (probe.error) return `${PYTHON} not found (${probe.error.code})`;
  if (probe.status !== 0) return `${PYTHON} cannot import torch, torchvision and PIL (install Debian's python3-torch python3-torchvision python3-pil): ${probe.stderr.trim().split('\n').pop()}`;
  return null;
}

/**
 * Writes label epoch 0's boxes per image (dataset order) to `file`, for the Python side.
 * @example await exportBoxes('/tmp/labels', 'bench/out/data', 224, '/tmp/boxes.json');
 */
export async function exportBoxes(labelsLocation, dataRoot, size, file) {
  const labels = await openLabels(labelsLocation);
  const m = labels.manifest;
  const paths = [];
  const boxes = [];
  for (const shard of m.shards) {
    const images = await labels.readImages(shard);
    const block = await labels.readEpoch(shard, 0);
    const skipped = new Set(images.skipped);
    let rank = 0;
    for (let local = 0; local < images.imageCount; local++) {
      if (skipped.has(local)) continue;
      paths.push(images.paths[local]);
      const crops = [];
      for (let c = 0; c < labels.crops; c++) {
        const r = (rank * labels.crops) + c;
        crops.push([block.top[r], block.left[r], block.height[r], block.width[r], block.flip[r]]);
      }
      boxes.push(crops);
      rank++;
    }
  }
  writeFileSync(file, JSON.stringify({ root: dataRoot, paths, boxes, size, mean: m.teacher.mean, std: m.teacher.std }));
}

/**
 * Runs the reference loader and returns its JSON result.
 * @example const r = runPytorchLoader('/tmp/boxes.json', { epochs: 2, workers: 2 });
 */
export function runPytorchLoader(boxesFile, { epochs = 2, workers = 2, batchImages = 32 } = {}) {
  const run = spawnSync(PYTHON, [SCRIPT, boxesFile, '--epochs', String(epochs), '--workers', String(workers), '--batch-images', String(batchImages)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (run.status !== 0) throw new Error(`${SCRIPT} failed: ${run.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return JSON.parse(run.stdout.trim().split('\n').pop());
}
