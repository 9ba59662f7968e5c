import { basename } from 'node:path';
import type { Interpolation } from '../crop/render.js';
import { IN_THREAD_RULE } from '../dataset/decode-wasm.js';
import { DECODE_BYTES_PER_PIXEL, reasonOf } from '../dataset/decode.js';
import { CONTENT_HASH_BYTES } from '../dataset/file.js';
import { imageLocation, type BadEntryPolicy, type Dataset } from '../dataset/scan.js';
import { openDataset } from '../webdataset/open.js';
import { FkdError, isFkdError } from '../errors.js';
import { codecDescription } from '../labels/codec.js';
import type { TargetMode } from '../labels/targets.js';
import type { LabelConfig } from '../store/config.js';
import { openStore, type OpenStoreOptions } from '../storage/open.js';
import { LabelStoreWriter } from '../store/writer/writer.js';
import { encodeShard } from '../store/format/encode.js';
import { cropsDigest } from '../store/boxes-from.js';
import { openLabels } from '../store/labels.js';
import { MANIFEST_VERSION, type ManifestScan, type SkippedImage } from '../store/manifest.js';
import { scanRecordOf } from '../store/scan-record.js';
import { memoryBudget } from '../options/memory.js';
import { OrderedBudget } from '../pipeline/ordered-budget.js';
import { checkSeparateTrees } from './separate-trees.js';
import { planShards, shardsOfSlice, type ShardPlan, type Slice } from '../store/shards.js';
import { checkClassCount } from '../teacher/common.js';
import type { Device, TeacherEngine, TeacherInfo } from '../teacher/engine.js';
import { fingerprintTeacher } from '../teacher/fingerprint.js';
import { loadTeacher } from '../teacher/load.js';
import { orderedWindow } from '../pipeline/ordered-window.js';
import { adoptCropSettings, cropsLike, sampledCrops, type CropSource, type ShardCrops } from './crop-source.js';
import { EpochColumns } from './epoch-columns.js';
import { checkLabelPlan, defaultTopK, resolveLabelOptions, TEACHER_RING_BATCHES, type ResolvedLabelOptions } from './options.js';
import type { Naming } from '../options/schema.js';
import { wholeJob } from './plan.js';
import { TeacherBatcher } from './teacher-batcher.js';
import { labelRenderStage, type LabelRenderStage, type OpenImage } from './label-render.js';
import { TeacherRing } from './teacher-ring.js';
import { availableParallelism } from 'node:os';
import { loadClassMap } from './class-map-file.js';
import type { ClassMap } from '../labels/class-map.js';

export interface LabelOptions {
  /** ImageFolder root `<data>/<class>/<image>`, or a WebDataset shard set written by `fkd pack` (see `openDataset`). */
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
  /** How the dense target is rebuilt from the top-k (`marginal` smoothing or `renorm`), recorded in the store. */
  rebuild?: TargetMode;
  /** @deprecated The old name of `rebuild` (accepted with a warning until the next release). */
  target?: TargetMode;
  interpolation?: Interpolation;
  /** Crops per teacher call. */
  batch?: number;
  /** Images decoded ahead of the teacher. */
  concurrency?: number;
  shardImages?: number;
  maxPixels?: number;
  device?: Device;
  /** Teacher intra-op threads. */
  threads?: number;
  /** Threads that decode images and render crops into the teacher's batches (default: all cores; 0: the calling thread). The records are the same at any count. */
  renderThreads?: number;
  /** MiB the run may plan for (default: half of the machine's or the container's memory). A quarter of it bounds the pixels being decoded at once (render threads may decode up to `concurrency` images of at most 4 Mpx ahead of their turn: an eighth more at most). */
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
  /** Accept a format 1 store as `like` (refused by default: format 1 has no integrity hash). */
  allowFormat1?: boolean;
  /** Bad entries of the tree and undecodable images: `skip` (default) records them, `throw` stops at the first (`fail`: its deprecated spelling). */
  onBadEntry?: BadEntryPolicy | 'fail';
  /** Fail, without finalizing, when fewer images than this get labels in this run's slice (default 1). */
  minImages?: number;
  /** Render SVGs (refused by default: librsvg can read other files they reference). */
  allowSvg?: boolean;
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
  /** What the dataset scan passed over: counts by kind and the first entries with their reason. */
  excluded: ManifestScan;
  /** Images of this run's slice that have records (this run's and resumed shards'). */
  imagesWithRecords: number;
  /** Whether the manifest was written (always for a whole job, by `finalize` for slices). */
  finalized: boolean;
  seconds: number;
}

/** Images up to this many pixels (4 Mpx, ~13 MB decoded) may be decoded on a render thread before the budget admits them. */
const FREE_PIXELS = 2 ** 22;

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
  await checkSeparateTrees(own.data, own.out);
  const base = own.like === undefined ? undefined : await openLabels(own.like, { ...options.store, ...(options.allowFormat1 ? { allowFormat1: true } : {}) });
  const resolved = base ? adoptCropSettings(own, options, base.manifest, naming) : own;
  // The teacher first: a wrong model or a missing GPU should fail before a long dataset scan.
  const teacher = await loadTeacher(resolved.teacher, withoutUndefined({ size: resolved.size, device: resolved.device, threads: resolved.threads }));
  try {
    const dataset = await openDataset(resolved.data, { onBadEntry: resolved.onBadEntry, store: options.store });
    if (base && dataset.fingerprint !== base.manifest.dataset.fingerprint) {
      throw new FkdError('E_DATASET_MISMATCH', `${resolved.data} is not the dataset ${base.location} was labelled from, so its crops cannot be labelled again. Point the data option at the same tree.`, { path: resolved.data, option: 'data' });
    }
    const classMap = options.classMap === undefined ? undefined : await loadClassMap(options.classMap, dataset.classes, teacher.info.numClasses);
    if (!classMap) checkClassCount(teacher, dataset.classes.length, resolved.teacher);
    checkLabelPlan(resolved, { numClasses: dataset.classes.length, inputSize: teacher.info.inputSize }, naming);
    options.onTeacher?.(teacher.info);
    const made = await buildConfig(resolved, dataset, teacher, classMap);
    // --like: the shards hold labels only; their boxes are the base's, named by the digest of its blocks.
    const config: LabelConfig = base ? { ...made, boxesFrom: { store: base.location, digest: cropsDigest(base.manifest) } } : made;
    const excluded = scanRecordOf(dataset.excluded);
    const backend = `${teacher.info.engine}/${teacher.info.backend}`;
    const store = await LabelStoreWriter.claim(await openStore(resolved.out, options.store), config, { slice, backend, scan: excluded });
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
    if (run.imagesWithRecords < resolved.minImages) throw tooFewImages(run, resolved.minImages, store.location);
    const finalized = slice.count === 1 ? (await store.finalize(), true) : false;
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
      excluded,
      imagesWithRecords: run.imagesWithRecords,
      finalized,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await teacher.dispose();
  }
}

/** The minimum-success rule: a run where (nearly) nothing could be read is a failure, not a store. */
function tooFewImages(run: LabelRun, minImages: number, location: string): FkdError {
  const reasons = [...new Set(run.skipped.slice(0, 50).map((skipped) => skipped.reason))].slice(0, 3);
  return new FkdError(
    'E_TOO_FEW_IMAGES',
    `Only ${run.imagesWithRecords} of ${run.imagesInSlice} images could be labelled, fewer than minImages ${minImages}` +
      (reasons.length ? ` (skipped because: ${reasons.join('; ')})` : '') +
      `. The store in ${location} was not finalized. Fix the images (are they Git LFS pointers or a failed download?), then run the same command again.`,
    { path: location, option: 'minImages' },
  );
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
      decoder: IN_THREAD_RULE,
    },
    codec: codecDescription(options.topK ?? defaultTopK(dataset.classes.length), options.rebuild),
    shardImages: options.shardImages,
  };
}


/** Decoded image waiting for its crops to be rendered. */
interface Decoded {
  image: OpenImage | null;
  /** The content hash of the bytes the image was decoded from. */
  hash: Uint8Array | null;
  skipped: SkippedImage | null;
  /** What the image holds of the shard's pixel budget, given back once its crops are rendered. */
  pixels: number;
}

class LabelRun {
  shardsWritten = 0;
  shardsReused = 0;
  imagesLabelled = 0;
  decodes = 0;
  /** Images this run read (labelled or found unreadable), excluding shards it reused. */
  imagesRead = 0;
  readonly skipped: SkippedImage[] = [];
  /** Images of the slice with records, in shards this run wrote and in those it reused. */
  imagesWithRecords = 0;
  readonly imagesInSlice: number;
  private imagesDone = 0;
  private readonly imagesTotal: number;
  private shardsDone = 0;
  private readonly perImage: number;
  /** One teacher batch for the whole run: its buffers are reused by every shard. */
  private readonly batcher: TeacherBatcher;
  private readonly pixelBudget: number;
  private readonly renderThreads: number;
  private readonly freePixels: number;

  constructor(
    private readonly options: LabelOptions,
    private readonly resolved: ResolvedLabelOptions,
    private readonly dataset: Dataset,
    private readonly teacher: TeacherEngine,
    private readonly config: LabelConfig,
    private readonly store: LabelStoreWriter,
    private readonly shards: ShardPlan[],
    private readonly crops: CropSource,
  ) {
    this.imagesTotal = shards.reduce((sum, shard) => sum + shard.imageCount, 0);
    this.imagesInSlice = this.imagesTotal;
    // Decoded pixels in flight are bounded, not just their count: a few 16000² images are
    // gigabytes. A quarter of the memory budget, at DECODE_BYTES_PER_PIXEL each.
    this.pixelBudget = Math.max(1, Math.floor(memoryBudget(resolved.memory).bytes / 4 / DECODE_BYTES_PER_PIXEL));
    this.perImage = config.sampler.epochs * config.sampler.crops;
    this.renderThreads = resolved.renderThreads ?? availableParallelism();
    // A render thread decodes a small image without waiting for its admission (a round trip to
    // this thread, which may be in the teacher): the budget is then exceeded by at most
    // `concurrency` such images, an eighth of it.
    this.freePixels = Math.min(FREE_PIXELS, Math.floor(this.pixelBudget / (8 * resolved.concurrency)));
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
    let pipeline: { ring: TeacherRing; stage: LabelRenderStage } | undefined;
    try {
      for (const shard of this.shards) {
        this.options.signal?.throwIfAborted();
        const existing = await this.store.finished(shard);
        if (existing) {
          this.shardsReused++;
          this.skipped.push(...existing.skipped);
          this.imagesWithRecords += shard.imageCount - existing.skipped.length;
          this.imagesDone += shard.imageCount;
        } else {
          pipeline ??= this.pipeline();
          await this.labelShard(shard, pipeline.ring, pipeline.stage);
          this.shardsWritten++;
        }
        this.shardsDone++;
        this.report();
      }
    } finally {
      if (pipeline) {
        // No thread may still write into the ring, or hold an image, once the pass is over.
        await pipeline.ring.settle();
        pipeline.stage.close();
      }
    }
  }

  /** The teacher's input ring and the stage that renders into it, made when the first shard needs labelling. */
  private pipeline(): { ring: TeacherRing; stage: LabelRenderStage } {
    const teacher = this.teacher.info;
    const { interpolation, maxPixels } = this.config.sampler;
    const normalization = { mean: this.config.teacher.mean, std: this.config.teacher.std };
    const input = { size: teacher.inputSize, layout: teacher.layout, normalization, interpolation, maxPixels };
    const ring = new TeacherRing(this.batcher, input, this.resolved.batch, TEACHER_RING_BATCHES, this.renderThreads);
    return { ring, stage: labelRenderStage({ ...ring.views, id: ring.id, regions: ring.renderRegions }, this.renderThreads) };
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

  /**
   * Opens (reads, hashes, decodes) image `local` of a shard once `pixels` admits it. Whatever
   * happens, the budget hears of it: a failure before the header passes the index, one after
   * gives its pixels back, and an error that ends the pass closes the budget so no other decode
   * waits forever.
   */
  private async open(stage: LabelRenderStage, shardStart: number, local: number, pixels: OrderedBudget): Promise<Decoded> {
    const index = shardStart + local;
    const entry = this.dataset.images[index]!;
    this.decodes++;
    let held = -1;
    const admit = async (count: number): Promise<void> => {
      await pixels.admit(local, count);
      held = count;
    };
    try {
      // Hashed and decoded from one read, so the hash is of the very bytes the teacher saw.
      const image = await stage.open(await imageLocation(this.dataset, entry, this.options.signal), entry.path, { maxPixels: this.config.sampler.maxPixels, allowSvg: this.resolved.allowSvg, freely: this.freePixels, admit });
      return { image, hash: image.hash, skipped: null, pixels: held };
    } catch (error) {
      if (held >= 0) pixels.release(held);
      else pixels.pass(local);
      if (isFkdError(error) && SKIPPABLE.has(error.code) && this.resolved.onBadEntry === 'skip') {
        return { image: null, hash: null, skipped: { index, path: entry.path, reason: reasonOf(error) }, pixels: 0 };
      }
      pixels.close(error);
      throw error;
    }
  }

  /**
   * Claims teacher rows for every crop of one image (image `local` of its shard, the `rank`-th
   * with records), in order, and has them rendered there; a batch goes to the teacher as soon
   * as its rows are claimed and rendered. Resolves once the image's crops are all claimed;
   * `drawn` settles when the last of them is rendered and the image let go.
   */
  private async labelImage(ring: TeacherRing, stage: LabelRenderStage, decoded: Decoded, boxes: ShardCrops, local: number, rank: number, columns: EpochColumns): Promise<{ drawn: Promise<void> }> {
    const { epochs, crops } = this.config.sampler;
    const image = decoded.image!;
    const collect = decoded.pixels * 8 > this.pixelBudget;
    const total = epochs * crops;
    let places: number[] = [];
    let drawn: Promise<void> = Promise.resolve();
    let n = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let crop = 0; crop < crops; crop++) {
        n++;
        const slot = rank * crops + crop;
        const spec = boxes.box(local, rank, image, epoch, crop);
        columns.setBox(epoch, slot, spec);
        places.push(await ring.claim(columns, columns.cell(epoch, slot), spec));
        if (ring.full || n === total) {
          drawn = stage.draw(image, places, n === total, collect);
          ring.track(drawn);
          places = [];
          if (ring.full) ring.send();
        }
      }
    }
    return { drawn };
  }

  private async labelShard(shard: ShardPlan, ring: TeacherRing, stage: LabelRenderStage): Promise<void> {
    const { epochs, crops } = this.config.sampler;
    const columns = new EpochColumns({ epochs, crops, topK: this.config.codec.topK, images: shard.imageCount });
    const widths = new Uint32Array(shard.imageCount);
    const heights = new Uint32Array(shard.imageCount);
    const hashes = new Uint8Array(shard.imageCount * CONTENT_HASH_BYTES);
    const skippedLocal: number[] = [];
    const skippedHere: SkippedImage[] = [];

    // Decodes run ahead (on the render threads, or libuv's pool) while the teacher works; crops
    // take their teacher rows in image order, so batch composition does not depend on which
    // decode finishes first.
    // At most `concurrency` decodes ahead, and at most the pixel budget decoded at once.
    const lookahead = this.resolved.concurrency;
    const boxes = await this.crops.forShard(shard);
    const pixels = new OrderedBudget(this.pixelBudget, this.options.signal);
    const read = (local: number): Promise<Decoded> => {
      const reason = boxes.skippedBefore(local);
      if (reason === undefined) return this.open(stage, shard.imageStart, local, pixels);
      // Never decoded: it holds nothing of the budget.
      pixels.pass(local);
      const index = shard.imageStart + local;
      return Promise.resolve({ image: null, hash: null, skipped: { index, path: this.dataset.images[index]!.path, reason }, pixels: 0 });
    };
    const decodes = orderedWindow(shard.imageCount, lookahead, read, { signal: this.options.signal });

    let rank = 0;
    let local = -1;
    try {
      for await (const decoded of decodes) {
        local++;
        // The body's own errors close the budget before the window waits for its decodes.
        try {
          if (!decoded.image) {
            if (boxes.skippedBefore(local) === undefined) boxes.unreadable(local, decoded.skipped!.path, decoded.skipped!.reason);
            skippedLocal.push(local);
            skippedHere.push(decoded.skipped!);
            this.imagesRead++;
            this.imagesDone++;
            continue;
          }
          widths[local] = decoded.image.width;
          heights[local] = decoded.image.height;
          hashes.set(decoded.hash!, local * CONTENT_HASH_BYTES);
          const { drawn } = await this.labelImage(ring, stage, decoded, boxes, local, rank, columns);
          // The budget gets the pixels back once the image is let go; a failed render closes it.
          const held = decoded.pixels;
          drawn.then(
            () => pixels.release(held),
            (error: unknown) => pixels.close(error),
          );
        } catch (error) {
          pixels.close(error);
          throw error;
        }
        rank++;
        this.imagesLabelled++;
        this.imagesRead++;
        this.imagesDone++;
        if (local % 8 === 7) this.report();
      }
      await ring.flush();
    } finally {
      pixels.close();
    }
    this.imagesWithRecords += rank;

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
      { boxes: this.config.boxesFrom === undefined },
    );
    await this.store.commit({ shard, bytes, layout, records: rank * crops * epochs, skipped: skippedHere });
    this.skipped.push(...skippedHere);
  }
}
