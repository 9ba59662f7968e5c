/** Element types a slot section can hold, named as numpy names them. */
export type SectionType = 'uint8' | 'uint32' | 'float32' | 'float64';

const TYPE_BYTES: Record<SectionType, number> = { uint8: 1, uint32: 4, float32: 4, float64: 8 };

/** One array of a slot: `perSample` values of `type` for each of the slot's samples, at `offset` bytes into the slot. */
export interface Section {
  name: SectionName;
  type: SectionType;
  perSample: number;
  offset: number;
}

export type SectionName =
  | 'images'
  | 'dense'
  | 'classes'
  | 'probs'
  | 'imageIndex'
  | 'classIndex'
  | 'crop'
  | 'box'
  | 'flip'
  | 'mixKind'
  | 'mixPartner'
  | 'mixLambda'
  | 'mixBox';

/** What fixes a slot's shape: the loader's output for one pass. */
export interface SlotShape {
  batchSize: number;
  imageSize: number;
  dtype: 'float32' | 'uint8';
  numClasses: number;
  /** Most top-k entries a target row can have (the mixed width when mixing is on). */
  width: number;
}

/** Sections start on 64-byte boundaries, so every view a client makes is aligned for its type and a cache line. */
const ALIGN = 64;

/**
 * The byte layout of one ring slot, shared by the server and every client (docs/serve-protocol.md):
 * pixels, dense targets, the top-k rows, then per-sample provenance columns. Slot `s` starts at
 * `s × slotBytes` in the shared file.
 *
 * @example
 * const { sections, slotBytes } = slotLayout({ batchSize: 256, imageSize: 224, dtype: 'uint8', numClasses: 1000, width: 5 });
 */
export function slotLayout(shape: SlotShape): { sections: Section[]; slotBytes: number } {
  const side = shape.imageSize;
  const wanted: Array<[SectionName, SectionType, number]> = [
    ['images', shape.dtype, 3 * side * side],
    ['dense', 'float32', shape.numClasses],
    ['classes', 'uint32', shape.width],
    ['probs', 'float32', shape.width],
    ['imageIndex', 'uint32', 1],
    ['classIndex', 'uint32', 1],
    ['crop', 'uint32', 1],
    ['box', 'uint32', 4],
    ['flip', 'uint8', 1],
    ['mixKind', 'uint8', 1],
    ['mixPartner', 'uint32', 1],
    ['mixLambda', 'float64', 1],
    ['mixBox', 'uint32', 4],
  ];
  const sections: Section[] = [];
  let offset = 0;
  for (const [name, type, perSample] of wanted) {
    sections.push({ name, type, perSample, offset });
    offset = Math.ceil((offset + shape.batchSize * perSample * TYPE_BYTES[type]) / ALIGN) * ALIGN;
  }
  return { sections, slotBytes: offset };
}

/** Bytes of one section in a slot. */
export function sectionBytes(section: Section, batchSize: number): number {
  return batchSize * section.perSample * TYPE_BYTES[section.type];
}
