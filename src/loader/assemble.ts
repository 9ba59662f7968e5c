import type { Normalization } from '../crop/tensor.js';
import type { WasmMemory } from '../wasm-api.js';
import { decodeProbability } from '../labels/codec.js';
import type { Layout } from '../crop/tensor.js';
import { cloneBatch, type Batch, type BatchTargets, type MixMeta, type SampleMeta } from './batch.js';
import { BOX_FIELDS, type RingViews, type RenderSettings } from '../render/job.js';
import { newRingId } from '../render/pool.js';
import { rowPath, type EpochPlan } from './plan.js';
import { MAX_RING_WASM_BYTES, ringWasmMemory } from './mix-kernel.js';
import { keepForReuse, ringMemory } from './ring-memory.js';

/** The memory of one batch in the ring: pixels, top-k labels and provenance, `batchSize` samples. */
export interface Slot {
  images: Float32Array | Uint8Array;
  classes: Uint32Array;
  probs: Float32Array;
  /** Plan row of each sample. */
  row: Uint32Array;
  imageIndex: Uint32Array;
  classIndex: Uint32Array;
  crop: Uint32Array;
  /** `BOX_FIELDS` values per sample; render threads read the crop boxes from here. */
  boxes: Uint32Array;
  /** Dense targets, allocated the first time a batch in this slot is asked for them. */
  dense: Float32Array | null;
  /** Teacher probability of the folder class per sample, when the targets are calibrated. */
  confidence: Float32Array | null;
  /** What the mix stage did to each sample and the mixed targets, when mixing is on. */
  mix: SlotMix | null;
}

/** The mix stage's columns of one slot, `batchSize` samples each. */
export interface SlotMix {
  /** 0: left as is, 1: Mixup, 2: CutMix. */
  kind: Uint8Array;
  partner: Uint32Array;
  lambda: Float64Array;
  /** top, left, height, width per sample (CutMix). */
  box: Uint32Array;
  /** Mixed targets in explicit form, `width` entries per sample. */
  classes: Uint32Array;
  probs: Float32Array;
  width: number;
}

/** The optional columns a pass needs beyond pixels, labels and provenance. */
export interface RingExtras {
  /** Entries per mixed target row (min(2k, classes)); absent when nothing is mixed. */
  mixWidth?: number;
  /** Keep each sample's teacher confidence (calibrated targets). */
  confidence?: boolean;
  /** One region of the ring's memory per render thread, `bytes` each, where the thread renders straight into the ring. */
  renderRegions?: { count: number; bytes: number };
}

/**
 * Render regions take at most this much address space in all (and never push the ring past
 * wasm's 2 GiB of i32 offsets): a region smaller than its thread's largest image only sends
 * those images to the copying path. Cut below `MIN_REGION_BYTES`, a thread gets no region.
 */
const MAX_REGION_BYTES = 2 ** 30;
const MIN_REGION_BYTES = 2 ** 20;

const live = new Set<number>();

/** Ids of the batch rings that are allocated and not yet released (for tests and diagnostics). */
export function liveRings(): number[] {
  return [...live];
}

/**
 * The assemble stage's memory: `count` batch slots allocated once per pass, reused in turn
 * (batch b lives in slot b mod count). Pixels and boxes are one `SharedArrayBuffer` each
 * when render threads are used, so the threads write each crop straight into its final
 * (batch, index) place and read its box from there; nothing else crosses threads.
 *
 * A sample's place is `slot × batchSize + index`, the unit render jobs are addressed in.
 */
export class BatchRing implements RingViews {
  readonly id = newRingId();
  readonly slots: Slot[];
  readonly images: Float32Array | Uint8Array;
  /** One batch of pixels beside the ring's, in the same memory, for the mix stage (null without mix). */
  readonly mixScratch: Float32Array | Uint8Array | null;
  readonly boxes: Uint32Array;
  /** The pixels' shared WebAssembly.Memory and each render thread's region of it; null when the ring is not in wasm memory or has no regions. */
  readonly renderRegions: { memory: WasmMemory; regions: Array<{ start: number; end: number }> } | null;
  private readonly classes: Uint32Array;
  private readonly probs: Float32Array;
  private readonly columns: Uint32Array[];

  constructor(
    readonly settings: RenderSettings,
    readonly batchSize: number,
    readonly topK: number,
    readonly count: number,
    shared: boolean,
    extras: RingExtras = {},
  ) {
    const places = count * batchSize;
    const perCrop = 3 * settings.size * settings.size;
    const kind = shared ? 'shared' : 'plain';
    // With mix on, the pixels go into wasm memory, where the Mixup kernel blends them in
    // place, and one batch more of it is the mix stage's scratch for crops it copies aside,
    // so the kernel reads those too.
    const values = places * perCrop;
    const scratch = extras.mixWidth === undefined ? 0 : batchSize * perCrop;
    const bytes = settings.dtype === 'float32' ? 4 : 1;
    // Render threads get regions of the same memory, so they write crops into their slots with no copy.
    const regionsAt = Math.ceil(((values + scratch) * bytes) / 16) * 16;
    const wanted = shared ? extras.renderRegions : undefined;
    const budget = Math.min(MAX_REGION_BYTES, MAX_RING_WASM_BYTES - regionsAt);
    const regionStride = wanted ? Math.floor(Math.min(wanted.bytes + 15, budget / wanted.count) / 16) * 16 : 0;
    const regions = wanted && regionStride >= Math.min(wanted.bytes, MIN_REGION_BYTES) ? wanted : undefined;
    const pixelBytes = regions ? regionsAt + regions.count * regionStride : (values + scratch) * bytes;
    const pixels = ringMemory(pixelBytes, shared && (scratch > 0 || regions) ? 'wasm' : kind);
    const memory = regions ? ringWasmMemory(pixels) : undefined;
    this.renderRegions =
      regions && memory ? { memory, regions: Array.from({ length: regions.count }, (_, i) => ({ start: regionsAt + i * regionStride, end: regionsAt + (i + 1) * regionStride })) } : null;
    const view = (from: number, length: number) => (bytes === 4 ? new Float32Array(pixels, from * 4, length) : new Uint8Array(pixels, from, length));
    this.images = view(0, values);
    this.mixScratch = scratch > 0 ? view(values, scratch) : null;
    this.boxes = new Uint32Array(ringMemory(places * BOX_FIELDS * 4, kind), 0, places * BOX_FIELDS);
    this.classes = new Uint32Array(places * topK);
    this.probs = new Float32Array(places * topK);
    const [row, imageIndex, classIndex, crop] = (this.columns = Array.from({ length: 4 }, () => new Uint32Array(places))) as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
    this.slots = Array.from({ length: count }, (_, s) => {
      const at = s * batchSize;
      const part = <T extends Uint32Array | Float32Array | Uint8Array>(array: T, per: number): T => array.subarray(at * per, (at + batchSize) * per) as T;
      return {
        images: part(this.images, perCrop),
        classes: part(this.classes, topK),
        probs: part(this.probs, topK),
        row: part(row, 1),
        imageIndex: part(imageIndex, 1),
        classIndex: part(classIndex, 1),
        crop: part(crop, 1),
        boxes: part(this.boxes, BOX_FIELDS),
        dense: null,
        confidence: extras.confidence ? new Float32Array(batchSize) : null,
        mix: extras.mixWidth === undefined ? null : slotMix(batchSize, extras.mixWidth),
      };
    });
    live.add(this.id);
  }

  /** The place of the `sample`-th sample of the pass. */
  place(sample: number): number {
    return (Math.floor(sample / this.batchSize) % this.count) * this.batchSize + (sample % this.batchSize);
  }

  /** The slot batch `batch` of the pass lives in. */
  slot(batch: number): Slot {
    return this.slots[batch % this.count]!;
  }

  /**
   * Writes the stored record of crop `crop` of plan row `row` into place `place`: its box
   * (which the renderer then reads), decoded top-k probabilities and provenance.
   */
  placeRecord(place: number, plan: EpochPlan, row: number, crop: number): void {
    const block = plan.blocks[plan.shard[row]!]!;
    const record = plan.first[row]! + crop;
    const [rows, imageIndex, classIndex, crops] = this.columns as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
    rows[place] = row;
    imageIndex[place] = plan.imageIndex[row]!;
    classIndex[place] = plan.classIndex[row]!;
    crops[place] = crop;
    const box = place * BOX_FIELDS;
    this.boxes[box] = block.top[record]!;
    this.boxes[box + 1] = block.left[record]!;
    this.boxes[box + 2] = block.height[record]!;
    this.boxes[box + 3] = block.width[record]!;
    this.boxes[box + 4] = block.flip[record]!;
    const k = this.topK;
    for (let j = 0; j < k; j++) {
      this.classes[place * k + j] = block.classes[record * k + j]!;
      this.probs[place * k + j] = block.probs ? block.probs[record * k + j]! : decodeProbability(block.codes[record * k + j]!);
    }
  }

  /** Copies everything of the sample at place `from` to place `to` (closing the gap a skipped image leaves). */
  move(from: number, to: number): void {
    const per = 3 * this.settings.size * this.settings.size;
    this.images.copyWithin(to * per, from * per, (from + 1) * per);
    this.boxes.copyWithin(to * BOX_FIELDS, from * BOX_FIELDS, (from + 1) * BOX_FIELDS);
    this.classes.copyWithin(to * this.topK, from * this.topK, (from + 1) * this.topK);
    this.probs.copyWithin(to * this.topK, from * this.topK, (from + 1) * this.topK);
    for (const column of this.columns) column[to] = column[from]!;
  }

  /**
   * Ends the ring and hands its pixel and box memory to the next pass of the same shape: a
   * batch yielded by this pass stays valid until such a pass starts (clone what you keep).
   */
  release(): void {
    if (!live.delete(this.id)) return;
    keepForReuse(this.images.buffer);
    keepForReuse(this.boxes.buffer);
  }
}

function slotMix(batchSize: number, width: number): SlotMix {
  return {
    kind: new Uint8Array(batchSize),
    partner: new Uint32Array(batchSize),
    lambda: new Float64Array(batchSize),
    box: new Uint32Array(batchSize * 4),
    classes: new Uint32Array(batchSize * width),
    probs: new Float32Array(batchSize * width),
    width,
  };
}

export interface BatchContext {
  plan: EpochPlan;
  imageSize: number;
  layout: Layout;
  normalization: Normalization;
  perCrop: number;
  topK: number;
  numClasses: number;
  /** The targets stage: wraps the slot's labels (`topK` per row: the store's k, or the mixed width). */
  targets: (classes: Uint32Array, probs: Float32Array, topK: number, dense: () => Float32Array) => BatchTargets;
}

/**
 * The first `count` samples of a slot as a `Batch`: views, not copies. `meta` objects are
 * only built when read.
 */
export function slotBatch(slot: Slot, count: number, context: BatchContext): Batch {
  const { plan, perCrop, topK } = context;
  const whole = count === slot.row.length;
  const view = <T extends Uint32Array | Float32Array | Uint8Array>(array: T, per: number): T => (whole ? array : (array.subarray(0, count * per) as T));
  let meta: SampleMeta[] | undefined;
  const samples = { imageIndex: view(slot.imageIndex, 1), classIndex: view(slot.classIndex, 1), crop: view(slot.crop, 1) };
  const denseBuffer = () => (slot.dense ??= new Float32Array(slot.row.length * context.numClasses));
  return {
    size: count,
    imageSize: context.imageSize,
    layout: context.layout,
    images: view(slot.images, perCrop),
    targets: slot.mix
      ? context.targets(view(slot.mix.classes, slot.mix.width), view(slot.mix.probs, slot.mix.width), slot.mix.width, denseBuffer)
      : context.targets(view(slot.classes, topK), view(slot.probs, topK), topK, denseBuffer),
    get meta(): SampleMeta[] {
      meta ??= Array.from({ length: count }, (_, index) => {
        const box = index * BOX_FIELDS;
        return {
          path: rowPath(plan, slot.row[index]!),
          imageIndex: slot.imageIndex[index]!,
          classIndex: slot.classIndex[index]!,
          labelEpoch: plan.labelEpoch,
          crop: slot.crop[index]!,
          box: { top: slot.boxes[box]!, left: slot.boxes[box + 1]!, height: slot.boxes[box + 2]!, width: slot.boxes[box + 3]!, flip: slot.boxes[box + 4] === 1 },
          ...(slot.confidence ? { teacherConfidence: slot.confidence[index]! } : {}),
          ...(slot.mix && slot.mix.kind[index] !== 0 ? { mix: mixMeta(slot.mix, index) } : {}),
        };
      });
      return meta;
    },
    set meta(value: SampleMeta[]) {
      meta = value;
    },
    samples,
    normalization: context.normalization,
    clone() {
      return cloneBatch(this);
    },
  };
}

function mixMeta(mix: SlotMix, index: number): MixMeta {
  const out: MixMeta = { partner: mix.partner[index]!, lambda: mix.lambda[index]! };
  if (mix.kind[index] === 2) out.box = { top: mix.box[index * 4]!, left: mix.box[index * 4 + 1]!, height: mix.box[index * 4 + 2]!, width: mix.box[index * 4 + 3]! };
  return out;
}
