import { CounterRandom, keyOf } from '../crop/rng.js';
import { renderCrop } from '../crop/render.js';
import { writeNormalized } from '../crop/tensor.js';
import pLimit from 'p-limit';
import { decodeAsLabelled } from '../dataset/decode.js';
import { CONTENT_HASH_BYTES, hashHex, readImageBytes, readImageFile } from '../dataset/file.js';
import { imageLocation, type Dataset } from '../dataset/scan.js';
import { openDataset } from '../webdataset/open.js';
import { checkShardSet } from '../webdataset/shard-set.js';
import { FkdError, isFkdError } from '../errors.js';
import { decodeProbability, denseTarget } from '../labels/codec.js';
import { toProbabilities } from '../labels/probabilities.js';
import { restrictToFolders } from '../labels/class-map.js';
import { presentImages, type EpochRecords } from '../store/format/columns.js';
import { datasetDifference } from '../store/dataset-check.js';
import { openLabels, type LabelSet, type OpenLabelsOptions } from '../store/labels.js';
import type { ShardEntry } from '../store/manifest.js';
import { fingerprintTeacher } from '../teacher/fingerprint.js';
import { loadTeacher } from '../teacher/load.js';
import type { Device } from '../teacher/engine.js';
import { VERIFY_DEFAULTS } from './options.js';

export interface VerifyOptions extends OpenLabelsOptions {
  /** Dataset root or shard set (as for `label`), to check the fingerprint and to re-render sampled crops. */
  data?: string;
  /** Teacher model, to re-run on sampled crops. Needs `data`. */
  teacher?: string;
  /** Records to re-check with the teacher (default 200). */
  sample?: number;
  /** Largest accepted relative error of a stored probability ≥ 1e-4 (default 0.01, the codec's bound). */
  tolerance?: number;
  seed?: number;
  device?: Device;
}

export interface VerifyReport {
  location: string;
  ok: boolean;
  shards: { checked: number; corrupt: Array<{ key: string; code: string; error: string }> };
  dataset?: {
    fingerprintMatches: boolean;
    expected: string;
    actual: string;
    /**
     * Format 2 stores, when the fingerprint matches: images whose file was read and hashed, and
     * those whose content hash differs from the stored one (or that can no longer be read). Null for format 1, which has no hashes.
     */
    content: { checked: number; changed: string[] } | null;
    /** For a shard set: shards whose tar headers were walked with the strict reader and compared with their index, and what was wrong. */
    shards?: { checked: number; problems: string[] };
  };
  teacher?: {
    sampled: number;
    top1Agreement: number;
    maxRelativeError: number;
    meanKl: number;
    sameFile: boolean;
  };
  problems: string[];
}

/**
 * Checks a label store: every shard's checksum and structure always; with `data`, the
 * dataset fingerprint; with `teacher` too, re-renders sampled crops, re-runs the teacher
 * and compares with what is stored.
 *
 * @example
 * const report = await verifyStore('./labels', { data: 'train', teacher: 't.onnx', sample: 200 });
 * if (!report.ok) console.error(report.problems);
 */
export async function verifyStore(location: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const labels = await openLabels(location, options);
  const problems: string[] = [];
  const corrupt: VerifyReport['shards']['corrupt'] = [];
  for (const shard of labels.manifest.shards) {
    try {
      // One read of the whole object, every rule of the format and every cross-check with the
      // manifest; the decoded shard is dropped at once, so memory stays at one shard.
      await labels.verifyShard(shard);
      // A boxes-from store's records take its base's boxes: read them the way the loader does,
      // so the box rules apply to them and verify gives the loader's verdict (FORMAT.md §2.4).
      if (labels.boxes) for (let epoch = 0; epoch < labels.epochs; epoch++) await labels.readEpoch(shard, epoch);
    } catch (error) {
      if (!isFkdError(error)) throw error;
      corrupt.push({ key: shard.key, code: error.code, error: error.message });
      problems.push(error.message);
    }
  }
  const report: VerifyReport = { location: labels.location, ok: false, shards: { checked: labels.manifest.shards.length, corrupt }, problems };
  if (!labels.manifest.complete) problems.push(`${labels.location} is incomplete: ${labels.manifest.shards.length} shards present.`);
  if (options.data !== undefined) {
    // The S3 options (endpoint, retries) are the store's: an s3:// shard set is read through the same driver.
    const dataset = await openDataset(options.data, { store: options });
    const expected = labels.manifest.dataset.fingerprint;
    // The class list and image count too, not the fingerprint field alone (FORMAT.md §3).
    const difference = datasetDifference(dataset, labels.manifest.dataset);
    const fingerprintMatches = difference === undefined;
    const content = fingerprintMatches && labels.manifest.version >= 2 ? await checkContent(labels, dataset, corrupt.map((c) => c.key)) : null;
    report.dataset = { fingerprintMatches, expected, actual: dataset.fingerprint, content };
    if (dataset.source) {
      report.dataset.shards = await checkShardSet(options.data, options);
      problems.push(...report.dataset.shards.problems);
    }
    if (difference !== undefined) problems.push(`${options.data} is not the dataset these labels were made from: ${difference.detail} (fingerprint ${dataset.fingerprint.slice(0, 12)}…, expected ${expected.slice(0, 12)}…).`);
    if (content !== null && content.changed.length > 0) {
      const shown = content.changed.slice(0, 5).join(', ') + (content.changed.length > 5 ? `, … (${content.changed.length} in all)` : '');
      problems.push(`${content.changed.length} of ${content.checked} images changed or became unreadable after they were labelled (content hash differs): ${shown}. Restore them or label the dataset again.`);
    }
    if (options.teacher !== undefined && report.dataset.fingerprintMatches) {
      report.teacher = await recheckTeacher(labels, dataset, options, corrupt.map((c) => c.key));
      const tolerance = options.tolerance ?? VERIFY_DEFAULTS.tolerance;
      if (!report.teacher.sameFile) problems.push(`${options.teacher} is not the teacher file recorded in the manifest (${labels.manifest.teacher.file}).`);
      if (report.teacher.maxRelativeError > tolerance) problems.push(`Stored probabilities differ from the teacher's by up to ${(report.teacher.maxRelativeError * 100).toFixed(2)}% (bound ${(tolerance * 100).toFixed(2)}%).`);
      if (report.teacher.top1Agreement < 1) problems.push(`Top-1 agrees on ${(report.teacher.top1Agreement * 100).toFixed(1)}% of sampled crops, not all.`);
    }
  } else if (options.teacher !== undefined) {
    throw new FkdError('E_USAGE', 'Verifying with a teacher needs the data option too: the crops are re-rendered from the images.', { option: 'data' });
  }
  report.ok = problems.length === 0;
  return report;
}

/** Reads and hashes every image that has records, against the content hashes of its shard. */
async function checkContent(labels: LabelSet, dataset: Dataset, corruptKeys: string[]): Promise<{ checked: number; changed: string[] }> {
  const limit = pLimit(8);
  const changed: string[] = [];
  let checked = 0;
  for (const shard of labels.manifest.shards) {
    if (corruptKeys.includes(shard.key)) continue;
    const images = await labels.readImages(shard);
    const hashes = images.contentHashes!;
    await Promise.all(
      Array.from(presentImages(images), (local) =>
        limit(async () => {
          const path = images.paths[local]!;
          const stored = hashHex(hashes.subarray(local * CONTENT_HASH_BYTES, (local + 1) * CONTENT_HASH_BYTES));
          const read = await imageLocation(dataset, { path }).then((location) => readImageFile(location, path)).catch((error: unknown) => {
            if (isFkdError(error)) return null;
            throw error;
          });
          checked++;
          if (read === null || hashHex(read.hash) !== stored) changed.push(path);
        }),
      ),
    );
  }
  return { checked, changed: changed.sort() };
}

interface Sample {
  shard: ShardEntry;
  epoch: number;
  record: number;
}

async function recheckTeacher(labels: LabelSet, dataset: Dataset, options: VerifyOptions, corruptKeys: string[]): Promise<NonNullable<VerifyReport['teacher']>> {
  const m = labels.manifest;
  const teacherFile = options.teacher!;
  const sameFile = (await fingerprintTeacher(teacherFile)).sha256 === m.teacher.sha256;
  const engine = await loadTeacher(teacherFile, { size: m.teacher.inputSize, ...(options.device ? { device: options.device } : {}) });
  try {
    const shards = m.shards.filter((s) => s.records > 0 && !corruptKeys.includes(s.key));
    const random = new CounterRandom(keyOf(options.seed ?? VERIFY_DEFAULTS.seed, 0x7e51));
    const wanted = Math.min(options.sample ?? VERIFY_DEFAULTS.sample, shards.reduce((sum, s) => sum + s.records, 0));
    const samples: Sample[] = [];
    const seen = new Set<string>();
    while (samples.length < wanted && shards.length > 0) {
      const shard = shards[random.below(shards.length)]!;
      const epoch = random.below(m.sampler.epochs);
      const perEpoch = shard.layout.epochs[epoch]!.records;
      if (perEpoch === 0) continue;
      const record = random.below(perEpoch);
      const id = `${shard.index}/${epoch}/${record}`;
      if (seen.has(id)) continue;
      seen.add(id);
      samples.push({ shard, epoch, record });
    }
    const blocks = new Map<string, EpochRecords>();
    // Per shard: where its images start, and the shard-local indices of those with records.
    const owners = new Map<number, { start: number; present: Uint32Array }>();
    const size = engine.info.inputSize;
    const k = m.codec.topK;
    const C = m.dataset.classes.length;
    let agree = 0;
    let maxRelativeError = 0;
    let klSum = 0;
    const batch = new Float32Array(samples.length * 3 * size * size);
    const pixels = new Uint8Array(size * size * 3);
    const stored: Array<{ classes: number[]; probs: number[] }> = [];
    for (const [row, sample] of samples.entries()) {
      const blockId = `${sample.shard.index}/${sample.epoch}`;
      let block = blocks.get(blockId);
      if (!block) {
        block = await labels.readEpoch(sample.shard, sample.epoch);
        blocks.set(blockId, block);
      }
      let images = owners.get(sample.shard.index);
      if (!images) {
        const block = await labels.readImages(sample.shard);
        images = { start: block.imageStart, present: presentImages(block) };
        owners.set(sample.shard.index, images);
      }
      const imageIndex = images.start + images.present[Math.floor(sample.record / m.sampler.crops)]!;
      const path = dataset.images[imageIndex]!.path;
      const image = await decodeAsLabelled(await readImageBytes(await imageLocation(dataset, { path }), path), path, m.sampler.decoder, { maxPixels: m.sampler.maxPixels });
      const r = sample.record;
      renderCrop(image, { top: block.top[r]!, left: block.left[r]!, height: block.height[r]!, width: block.width[r]!, flip: block.flip[r] === 1 }, size, m.sampler.interpolation, pixels);
      writeNormalized(pixels, size, batch, row, engine.info.layout, { mean: m.teacher.mean, std: m.teacher.std });
      const classes = Array.from(block.classes.subarray(r * k, r * k + k));
      stored.push({ classes, probs: Array.from(block.codes.subarray(r * k, r * k + k), decodeProbability) });
    }
    const outputs = samples.length === 0 ? new Float32Array(0) : await engine.infer(batch, samples.length);
    // A class-mapped store holds the teacher restricted to the folders' outputs: compare like with like.
    const map = m.teacher.classMap;
    const all = toProbabilities(outputs, samples.length, map ? map.outputs : C, { outputs: m.teacher.outputs, temperature: m.teacher.temperature });
    const fresh = map ? restrictToFolders(all, samples.length, map.outputs, map.indices, new Float32Array(samples.length * C)) : all;
    for (let row = 0; row < samples.length; row++) {
      const p = fresh.subarray(row * C, row * C + C);
      const { classes, probs } = stored[row]!;
      let best = 0;
      for (let c = 1; c < C; c++) if (p[c]! > p[best]!) best = c;
      if (classes[0] === best) agree++;
      for (let j = 0; j < k; j++) {
        const truth = p[classes[j]!]!;
        if (truth >= 1e-4) maxRelativeError = Math.max(maxRelativeError, Math.abs(probs[j]! - truth) / truth);
      }
      const q = denseTarget(Uint32Array.from(classes), Float32Array.from(probs), C, m.codec.target);
      let kl = 0;
      for (let c = 0; c < C; c++) if (p[c]! > 0) kl += p[c]! * Math.log(p[c]! / Math.max(q[c]!, 1e-12));
      klSum += kl;
    }
    return {
      sampled: samples.length,
      top1Agreement: samples.length === 0 ? 1 : agree / samples.length,
      maxRelativeError,
      meanKl: samples.length === 0 ? 0 : klSum / samples.length,
      sameFile,
    };
  } finally {
    await engine.dispose();
  }
}
