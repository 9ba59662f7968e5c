import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { finalizeStore } from '../store/writer/finalize.js';
import { openStore } from '../storage/open.js';
import { MANIFEST_KEY } from '../store/layout.js';

export interface ScaleBenchOptions {
  /** Images in the synthetic store (ImageNet-1k: 1,281,167). */
  images: number;
  /** Where stores (and the empty-file tree) are kept between runs; generated when missing. */
  dir: string;
  /** Processes writing the store when it is missing (default 2). */
  writers?: number;
  /** Also build a tree of `images` empty files and time the label pass's scan and plan on it. */
  tree?: boolean;
}

export interface ScaleBenchResult {
  images: number;
  shards: number;
  records: number;
  storeBytes: number;
  openSec: number;
  openRssMB: number;
  /** One student epoch's loader plan (planEpoch), after the store is open. */
  epochPlanSec: number;
  /** Peak RSS of the process that opened the store and planned the epoch. */
  epochPlanRssMB: number;
  infoSec: number;
  verifySec: number;
  verifyOk: boolean;
  scan?: { images: number; scanSec: number; planSec: number; maxRssMB: number };
  generatedSec: number | null;
}

interface StepResult {
  seconds: number;
  rssMB: number;
  maxRssMB: number;
  detail: Record<string, unknown>;
}

const STEP = fileURLToPath(new URL('./scale-step.js', import.meta.url));

/** Runs one step in a fresh Node process and parses its JSON line. */
function runStep(args: string[]): Promise<StepResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [STEP, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`scale step ${args[0]} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' ')}`));
      else resolve(JSON.parse(line) as StepResult);
    });
  });
}

/** ImageFolder paths for the empty-file tree: 1000 class folders, as ImageNet has. */
async function ensureEmptyTree(root: string, images: number): Promise<void> {
  const marker = join(root, '.complete');
  if (existsSync(marker)) return;
  await rm(root, { recursive: true, force: true });
  const classes = 1000;
  for (let c = 0; c < classes; c++) await mkdir(join(root, `n${String(c).padStart(8, '0')}`), { recursive: true });
  const limit = pLimit(64);
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < images; i++) {
    const c = Math.floor((i * classes) / images);
    const name = `n${String(c).padStart(8, '0')}`;
    jobs.push(limit(async () => (await open(join(root, name, `${name}_${String(i).padStart(8, '0')}.JPEG`), 'w')).close()));
  }
  await Promise.all(jobs);
  await (await open(marker, 'w')).close();
}

/**
 * The store at ImageNet scale without ImageNet: a synthetic store (real encoder, no images)
 * of `images` images × 4 crops × 2 label epochs in 1,000-image shards, then `openLabels`,
 * one epoch's loader plan, `fkd info` and local `fkd verify`, each timed in its own process.
 *
 * @example
 * const r = await benchScale({ images: 1_281_167, dir: '/tmp/fkd-scale' });
 * console.log(r.openSec, r.openRssMB);
 */
export async function benchScale(options: ScaleBenchOptions): Promise<ScaleBenchResult> {
  const location = join(options.dir, `store-${options.images}`);
  let generatedSec: number | null = null;
  if (!existsSync(join(location, MANIFEST_KEY))) {
    const started = performance.now();
    await rm(location, { recursive: true, force: true });
    const writers = options.writers ?? 2;
    await Promise.all(Array.from({ length: writers }, (_, index) => runStep(['generate', location, String(options.images), String(index), String(writers)])));
    await finalizeStore(await openStore(location));
    generatedSec = (performance.now() - started) / 1000;
  }
  const opened = await runStep(['open', location]);
  const plan = await runStep(['plan', location]);
  const info = await runStep(['info', location]);
  const verify = await runStep(['verify', location]);
  const result: ScaleBenchResult = {
    images: options.images,
    shards: opened.detail.shards as number,
    records: opened.detail.records as number,
    storeBytes: info.detail.totalBytes as number,
    openSec: opened.seconds,
    openRssMB: opened.rssMB,
    epochPlanSec: plan.detail.planSec as number,
    epochPlanRssMB: plan.maxRssMB,
    infoSec: info.seconds,
    verifySec: verify.seconds,
    verifyOk: verify.detail.ok as boolean,
    generatedSec,
  };
  if (options.tree) {
    const root = join(options.dir, `tree-${options.images}`);
    await ensureEmptyTree(root, options.images);
    const scan = await runStep(['scan', root]);
    result.scan = { images: scan.detail.images as number, scanSec: scan.detail.scanSec as number, planSec: scan.detail.planSec as number, maxRssMB: scan.maxRssMB };
  }
  return result;
}
