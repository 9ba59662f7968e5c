import type { Normalization } from '../crop/tensor.js';
import { decodeProbability } from '../labels/codec.js';
import type { Layout } from '../crop/tensor.js';
import { cloneBatch, type Batch, type BatchTargets, type SampleMeta } from './batch.js';
import { rowPath, type EpochPlan } from './plan.js';

/** Box columns per sample in `Slot.boxes`: top, left, height, width, flip. */
export const BOX_FIELDS = 5;

/** The memory of one batch: pixels, top-k labels and provenance, `batchSize` samples. */
export interface Slot {
  images: Float32Array | Uint8Array;
  classes: Uint32Array;
  probs: Float32Array;
  /** Plan row of each sample. */
  row: Uint32Array;
  imageIndex: Uint32Array;
  classIndex: Uint32Array;
  crop: Uint32Array;
  /** `BOX_FIELDS` values per sample; render workers read the crop boxes from here. */
  boxes: Uint32Array;
  /** Dense targets, allocated the first time a batch in this slot is asked for them. */
  dense: Float32Array | null;
}

export interface SlotShape {
  batchSize: number;
  /** Values per crop: 3 × size × size. */
  perCrop: number;
  dtype: 'float32' | 'uint8';
  topK: number;
}

/**
 * Allocates one slot. Pixels and boxes live in `SharedArrayBuffer` when `shared` is set, so
 * render threads can write crops into them and read boxes from them directly.
 */
export function allocateSlot(shape: SlotShape, shared: boolean): Slot {
  const memory = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const values = shape.batchSize * shape.perCrop;
  return {
    images: shape.dtype === 'float32' ? new Float32Array(memory(values * 4)) : new Uint8Array(memory(values)),
    classes: new Uint32Array(shape.batchSize * shape.topK),
    probs: new Float32Array(shape.batchSize * shape.topK),
    row: new Uint32Array(shape.batchSize),
    imageIndex: new Uint32Array(shape.batchSize),
    classIndex: new Uint32Array(shape.batchSize),
    crop: new Uint32Array(shape.batchSize),
    boxes: new Uint32Array(memory(shape.batchSize * BOX_FIELDS * 4)),
    dense: null,
  };
}

/**
 * Writes the stored record of crop `crop` of plan row `row` into sample `index` of a slot:
 * its box (which the renderer then reads), decoded top-k probabilities and provenance.
 */
export function placeRecord(slot: Slot, index: number, plan: EpochPlan, row: number, crop: number, topK: number): void {
  const block = plan.blocks[plan.shard[row]!]!;
  const record = plan.first[row]! + crop;
  slot.row[index] = row;
  slot.imageIndex[index] = plan.imageIndex[row]!;
  slot.classIndex[index] = plan.classIndex[row]!;
  slot.crop[index] = crop;
  const box = index * BOX_FIELDS;
  slot.boxes[box] = block.top[record]!;
  slot.boxes[box + 1] = block.left[record]!;
  slot.boxes[box + 2] = block.height[record]!;
  slot.boxes[box + 3] = block.width[record]!;
  slot.boxes[box + 4] = block.flip[record]!;
  for (let j = 0; j < topK; j++) {
    slot.classes[index * topK + j] = block.classes[record * topK + j]!;
    slot.probs[index * topK + j] = decodeProbability(block.codes[record * topK + j]!);
  }
}

export interface BatchContext {
  plan: EpochPlan;
  imageSize: number;
  layout: Layout;
  normalization: Normalization;
  perCrop: number;
  topK: number;
  numClasses: number;
  /** The targets stage: wraps the slot's top-k labels. */
  targets: (classes: Uint32Array, probs: Float32Array, dense: () => Float32Array) => BatchTargets;
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
    targets: context.targets(view(slot.classes, topK), view(slot.probs, topK), denseBuffer),
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
