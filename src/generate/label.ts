import { basename } from 'node:path';
import { renderNormalized, type Interpolation } from '../crop/render.js';
import type { RgbImage } from '../dataset/image.js';
import { decodeImage } from '../dataset/decode.js';
import { CONTENT_HASH_BYTES, readImageFile } from '../dataset/file.js';
import { imagePath, scanDataset, type Dataset } from '../dataset/scan.js';
import { FkdError, isFkdError } from '../errors.js';
import { codecDescription } from '../labels/codec.js';
import type { TargetMode } from '../labels/targets.js';
import { assertSameConfig, checkConfig, serializeConfig, type LabelConfig } from '../store/config.js';
import type { StoreDriver } from '../store/drivers/driver.js';
import { openStore, type OpenStoreOptions } from '../store/drivers/open.js';
import { configSha256, readShardEntry, type ShardEntryFile } from '../store/entry.js';
import { encodeShard } from '../store/format/encode.js';
import { openLabels } from '../store/labels.js';
import { MANIFEST_VERSION, type SkippedImage } from '../store/manifest.js';
import { CONFIG_KEY, shardEntryKey, shardKey } from '../store/layout.js';
import { planShards, shardsOfSlice, type ShardPlan, type Slice } from '../store/shards.js';
import { checkClassCount } from '../teacher/common.js';
import type { Device, TeacherEngine, TeacherInfo } from '../teacher/engine.js';
import { fingerprintTeacher } from '../teacher/fingerprint.js';
import { loadTeacher } from '../teacher/load.js';
import { orderedWindow } from '../pipeline/ordered-window.js';
import { adoptCropSettings, cropsLike, sampledCrops, type CropSource } from './crop-source.js';
import { EpochColumns } from './epoch-columns.js';
import { checkLabelPlan, defaultTopK, resolveLabelOptions, type ResolvedLabelOptions } from './options.js';
import type { Naming } from '../options/schema.js';
import { finalizeStore } from './finalize.js';
import { wholeJob } from './plan.js';
import { TeacherBatcher } from './teacher-batcher.js';
import { loadClassMap } from './class-map-file.js';
import type { ClassMap } from '../labels/class-map.js';

export interface LabelOptions {
  /** ImageFolder root: `<data>/<class>/<image>`. */
  data: string;
  /** `.onnx` file or TF.js `model.json`. */
  teacher: string;
  /** Output store: a directory or `s3://bucket/prefix`. */
  out: string;
  epochs?: number;
  crops?: number;
  topK?: number;
  seed?: number;
  scale?: [number, number];
  ratio?: [number, number];
  flip?: number;
  /** Teacher input side when the model does not fix it. */
  size?: number;
  mean?: [number, number, number];
  std?: [number, number, number];
  temperature?: number;
  outputs?: 'logits' | 'probs';
  target?: TargetMode;
  interpolation?: Interpolation;
  /** Crops per teacher call. */
  batch?: number;
  /** Images decoded ahead of the teacher. */
  concurrency?: number;
  shardImages?: number;
  maxPixels?: number;
  device?: Device;
  threads?: number;
  /** MiB the run may plan for (default: half of the machine's or the container's memory). */
  memory?: number;
  /**
   * For a teacher whose classes are not the folders: each folder's teacher output, as a
   * `{ folder: index }` object or the path of a JSON / two-column text file. The teacher's
   * distribution is restricted to those outputs and renormalised; the store's classes stay
   * the folders, and the map is recorded in the manifest (`teacher.classMap`).
   */
  classMap?: string | Readonly<Record<string, number>>;
  /**
   * A finished store whose crops to label again, exactly (its boxes and flips), with this
   * teacher; its sampler settings, label epochs and shard size are taken over. Average the two
   * stores' teachers with `openEnsemble`.
   */
  like?: string;
  slice?: Slice;
  store?: OpenStoreOptions;
  signal?: AbortSignal;
  /** How refusals name options: `cli` says `--shard-images`, `api` (default) `shardImages`. */
  naming?: Naming;
  onProgress?: (progress: LabelProgress) => void;
  onTeacher?: (info: TeacherInfo) => void;
  /** Sees every normalised batch exactly as the teacher gets it (for audits and replay checks). The view is reused by the next batch: copy what you keep. */
  onTeacherInput?: (input: Float32Array, rows: number) => void;
}

export interface LabelProgress {
  imagesDone: number;
  imagesTotal: number;
  cropsDone: number;
  cropsTotal: number;
  shardsDone: number;
  shardsTotal: number;
  skipped: number;
}

export interface LabelResult {
  location: string;
  teacher: TeacherInfo;
  slice: Slice;
  shardsWritten: number;
  shardsReused: number;
  images: number;
  crops: number;
  /** Decodes per labelled image; 1 means each image was read and decoded once. */
  decodesPerImage: number;
  skipped: SkippedImage[];
  /** Whether the manifest was written (always for a whole job, by `finalize` for slices). */
  finalized: boolean;
  seconds: number;
}

const SKIPPABLE = new Set(['E_BAD_IMAGE', 'E_IMAGE_TOO_LARGE', 'E_IO']);

/**
 * Makes soft labels in one pass: each image is decoded once, `epochs × crops` crops are
 * sampled and rendered from it, the teacher labels them in batches, and each shard of
 * images is written as one object. Re-running on the same `out` resumes.
 *
 * @example
 * await label({ data: 'train', teacher: 'teacher.onnx', out: 'labels', epochs: 10, crops: 4 });
 */
export async function label(options: LabelOptions): Promise<LabelResult> {
  const started = performance.now();
  const slice = options.slice ?? wholeJob;
  const naming = options.naming ?? 'api';
  // Every option is checked before the teacher loads, so a typo costs a second, not a run.
  const own = resolveLabelOptions(typeof options.classMap === 'object' ? { ...options, classMap: undefined } : options, naming);
  const base = own.like === undefined ? undefined : await openLabels(own.like, options.store);
  const resolved = base ? adoptCropSettings(own, options, base.manifest, naming) : own;
  // The teacher first: a wrong model or a missing GPU should fail before a long dataset scan.
  const teacher = await loadTeacher(resolved.teacher, withoutUndefined({ size: resolved.size, device: resolved.device, threads: resolved.threads }));
  try {
    const dataset = await scanDataset(resolved.data);
    if (base && dataset.fingerprint !== base.manifest.dataset.fingerprint) {
      throw new FkdError('E_DATASET_MISMATCH', `${resolved.data} is not the dataset ${base.location} was labelled from, so its crops cannot be labelled again. Point --data at the same tree.`, { path: resolved.data });
    }
    const classMap = options.classMap === undefined ? undefined : await loadClassMap(options.classMap, dataset.classes, teacher.info.numClasses);
    if (!classMap) checkClassCount(teacher, dataset.classes.length, resolved.teacher);
    checkLabelPlan(resolved, { numClasses: dataset.classes.length, inputSize: teacher.info.inputSize }, naming);
    options.onTeacher?.(teacher.info);
    const config = await buildConfig(resolved, dataset, teacher, classMap);
    // The manifest's own checker sees the config before any byte is written: a store that
    // could never be finalized is refused now, not after the whole pass.
    checkConfig(config);
    const store = await openStore(resolved.out, options.store);
    await claimStore(store, config);
    const shards = shardsOfSlice(planShards(dataset.images.length, config.shardImages), slice);
    const crops = base ? cropsLike(base) : sampledCrops({ seed: resolved.seed, scale: resolved.scale, ratio: resolved.ratio, flip: resolved.flip });
    const run = new LabelRun(options, resolved, dataset, teacher, config, store, shards, crops);
    try {
      await run.execute();
    } catch (error) {
      if (options.signal?.aborted) {
        throw new FkdError('E_ABORTED', `Stopped. ${run.shardsWritten + run.shardsReused} finished shards are kept in ${store.location}; run the same command again to resume.`, { cause: error });
      }
      throw error;
    }
    const finalized = slice.count === 1 ? (await finalizeStore(store), true) : false;
    return {
      location: store.location,
      teacher: teacher.info,
      slice,
      shardsWritten: run.shardsWritten,
      shardsReused: run.shardsReused,
      images: run.imagesLabelled,
      crops: run.cropsLabelled,
      decodesPerImage: run.imagesRead === 0 ? 0 : run.decodes / run.imagesRead,
      skipped: run.skipped,
      finalized,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await teacher.dispose();
  }
}

function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

async function buildConfig(options: ResolvedLabelOptions, dataset: Dataset, teacher: TeacherEngine, classMap: ClassMap | undefined): Promise<LabelConfig> {
  const { sha256 } = await fingerprintTeacher(options.teacher);
  return {
    format: 'fkd-labels-config',
    version: MANIFEST_VERSION,
    dataset: { images: dataset.images.length, classes: dataset.classes, fingerprint: dataset.fingerprint },
    teacher: {
      file: basename(options.teacher),
      sha256,
      engine: teacher.info.engine,
      inputSize: teacher.info.inputSize,
      layout: teacher.info.layout,
      mean: options.mean,
      std: options.std,
      outputs: options.outputs,
      temperature: options.temperature,
      ...(classMap ? { classMap } : {}),
    },
    sampler: {
      seed: options.seed,
      scale: options.scale,
      ratio: options.ratio,
      flip: options.flip,
      epochs: options.epochs,
      crops: options.crops,
      interpolation: options.interpolation,
      maxPixels: options.maxPixels,
    },
    codec: codecDescription(options.topK ?? defaultTopK(dataset.classes.length), options.target),
    shardImages: options.shardImages,
  };
}

/** Writes `config.json` on first use; later runs must bring the same settings. */
async function claimStore(store: StoreDriver, config: LabelConfig): Promise<void> {
  if (await store.head(CONFIG_KEY)) {
    assertSameConfig(new TextDecoder().decode(await store.get(CONFIG_KEY)), config, store.location);
    return;
  }
  await store.put(CONFIG_KEY, new TextEncoder().encode(serializeConfig(config)));
}

/** Decoded image waiting for its crops to be rendered. */
interface Decoded {
  image: RgbImage | null;
  /** The content hash of the bytes the image was decoded from. */
  hash: Uint8Array | null;
  skipped: SkippedImage | null;
}

class LabelRun {
  shardsWritten = 0;
  shardsReused = 0;
  imagesLabelled = 0;
  decodes = 0;
  /** Images this run read (labelled or found unreadable), excluding shards it reused. */
  imagesRead = 0;
  readonly skipped: SkippedImage[] = [];
  private imagesDone = 0;
  private readonly imagesTotal: number;
  private shardsDone = 0;
  private readonly perImage: number;
  /** One teacher batch for the whole run: its buffers are reused by every shard. */
  private readonly batcher: TeacherBatcher;

  constructor(
    private readonly options: LabelOptions,
    private readonly resolved: ResolvedLabelOptions,
    private readonly dataset: Dataset,
    private readonly teacher: TeacherEngine,
    private readonly config: LabelConfig,
    private readonly store: StoreDriver,
    private readonly shards: ShardPlan[],
    private readonly crops: CropSource,
  ) {
    this.imagesTotal = shards.reduce((sum, shard) => sum + shard.imageCount, 0);
    this.perImage = config.sampler.epochs * config.sampler.crops;
    this.batcher = new TeacherBatcher(teacher, {
      batchSize: resolved.batch,
      topK: config.codec.topK,
      outputs: config.teacher.outputs,
      temperature: config.teacher.temperature,
      classMap: config.teacher.classMap?.indices,
      signal: options.signal,
      onTeacherInput: options.onTeacherInput,
    });
  }

  get cropsLabelled(): number {
    return this.batcher.labelled;
  }

  async execute(): Promise<void> {
    this.report();
    for (const shard of this.shards) {
      this.options.signal?.throwIfAborted();
      const existing = await readShardEntry(this.store, shard, this.config);
      if (existing) {
        this.shardsReused++;
        this.skipped.push(...existing.skipped);
        this.imagesDone += shard.imageCount;
      } else {
        await this.labelShard(shard);
        this.shardsWritten++;
      }
      this.shardsDone++;
      this.report();
    }
  }

  private report(): void {
    this.options.onProgress?.({
      imagesDone: this.imagesDone,
      imagesTotal: this.imagesTotal,
      cropsDone: this.cropsLabelled,
      cropsTotal: this.imagesTotal * this.perImage,
      shardsDone: this.shardsDone,
      shardsTotal: this.shards.length,
      skipped: this.skipped.length,
    });
  }

  private decode(index: number): Promise<Decoded> {
    const entry = this.dataset.images[index]!;
    const path = imagePath(this.dataset, entry);
    this.decodes++;
    // Hashed and decoded from one read, so the hash is of the very bytes the teacher saw.
    const decoded = readImageFile(path, entry.path).then(async ({ bytes, hash }): Promise<Decoded> => ({
      image: await decodeImage(bytes, entry.path, { maxPixels: this.config.sampler.maxPixels }),
      hash,
      skipped: null,
    }));
    return decoded.catch(
      (error: unknown) => {
        if (isFkdError(error) && SKIPPABLE.has(error.code)) {
          return { image: null, hash: null, skipped: { index, path: entry.path, reason: error.message } };
        }
        throw error;
      },
    );
  }

  private async labelShard(shard: ShardPlan): Promise<void> {
    const { epochs, crops, interpolation } = this.config.sampler;
    const columns = new EpochColumns({ epochs, crops, topK: this.config.codec.topK, images: shard.imageCount });
    const widths = new Uint32Array(shard.imageCount);
    const heights = new Uint32Array(shard.imageCount);
    const hashes = new Uint8Array(shard.imageCount * CONTENT_HASH_BYTES);
    const skippedLocal: number[] = [];
    const skippedHere: SkippedImage[] = [];
    const teacher = this.teacher.info;
    const size = teacher.inputSize;
    const norm = { mean: this.config.teacher.mean, std: this.config.teacher.std };
    const batcher = this.batcher;

    // Decodes run ahead on libuv's pool while the teacher works; crops are rendered in image
    // order, so batch composition does not depend on which decode finishes first.
    const lookahead = this.resolved.concurrency;
    const boxes = await this.crops.forShard(shard);
    const read = (local: number): Promise<Decoded> => {
      const reason = boxes.skippedBefore(local);
      if (reason === undefined) return this.decode(shard.imageStart + local);
      const index = shard.imageStart + local;
      return Promise.resolve({ image: null, hash: null, skipped: { index, path: this.dataset.images[index]!.path, reason } });
    };
    const decodes = orderedWindow(shard.imageCount, lookahead, read, { signal: this.options.signal });

    let rank = 0;
    let local = -1;
    for await (const decoded of decodes) {
      local++;
      if (!decoded.image) {
        if (boxes.skippedBefore(local) === undefined) boxes.unreadable(local, decoded.skipped!.path, decoded.skipped!.reason);
        skippedLocal.push(local);
        skippedHere.push(decoded.skipped!);
        this.imagesRead++;
        this.imagesDone++;
        continue;
      }
      const image = decoded.image;
      widths[local] = image.width;
      heights[local] = image.height;
      hashes.set(decoded.hash!, local * CONTENT_HASH_BYTES);
      for (let epoch = 0; epoch < epochs; epoch++) {
        for (let crop = 0; crop < crops; crop++) {
          const slot = rank * crops + crop;
          const spec = boxes.box(local, rank, image, epoch, crop);
          columns.setBox(epoch, slot, spec);
          renderNormalized(image, spec, size, interpolation, batcher.input, batcher.row, teacher.layout, norm);
          await batcher.add(columns, columns.cell(epoch, slot));
        }
      }
      rank++;
      this.imagesLabelled++;
      this.imagesRead++;
      this.imagesDone++;
      if (local % 8 === 7) this.report();
    }
    await batcher.flush();

    const records = columns.finish(rank);
    const { bytes, layout } = encodeShard(
      {
        imageStart: shard.imageStart,
        imageCount: shard.imageCount,
        widths,
        heights,
        skipped: skippedLocal,
        paths: this.dataset.images.slice(shard.imageStart, shard.imageStart + shard.imageCount).map((image) => image.path),
        contentHashes: hashes,
      },
      records,
      this.dataset.classes.length,
    );
    const entry: ShardEntryFile = {
      configSha256: configSha256(this.config),
      backend: `${teacher.engine}/${teacher.backend}`,
      slice: this.options.slice ?? wholeJob,
      shard: { index: shard.index, key: shardKey(shard.index), imageStart: shard.imageStart, imageCount: shard.imageCount, records: rank * crops * epochs, layout },
      skipped: skippedHere,
    };
    // The shard goes first and its entry second: an entry always names a complete object.
    await this.store.put(shardKey(shard.index), bytes);
    await this.store.put(shardEntryKey(shard.index), new TextEncoder().encode(`${JSON.stringify(entry, null, 2)}\n`));
    this.skipped.push(...skippedHere);
  }
}
