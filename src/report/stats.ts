// The statistics of `fkd report`: a pure accumulator fed one epoch block at a time. Memory is
// fixed by the bin counts and the class count, never by the number of records.
import { FkdError } from '../errors.js';
import { decodeProbabilities, type TargetMode } from '../labels/codec.js';
import type { EpochRecords } from '../store/format/columns.js';

/** Equal-width bins over [from, to]; values outside are clamped into the end bins. */
export interface Histogram {
  from: number;
  to: number;
  counts: number[];
}

/** Top-1 agreement with the folder label among the records of one crop-scale bin. */
export interface ScaleBin {
  /** Box area ÷ image area, lower edge (inclusive). */
  from: number;
  /** Upper edge (exclusive, except for the last bin). */
  to: number;
  records: number;
  agreeing: number;
  /** `agreeing / records`, or null for an empty bin. */
  agreement: number | null;
}

export interface ClassAgreement {
  index: number;
  name: string;
  records: number;
  agreeing: number;
  /** null for a class without records. */
  agreement: number | null;
}

/** What a label store's records say, computed in one streaming pass. */
export interface RecordStats {
  records: number;
  /** Records whose top-1 class is the image's folder class. */
  agreeing: number;
  /** `agreeing / records` (null without records). */
  agreement: number | null;
  top1: { mean: number; histogram: Histogram };
  /** Entropy in bits of the distribution the loader rebuilds (codec.target) from the stored top-k. */
  entropy: { mean: number; max: number; histogram: Histogram };
  /** 1 − Σ stored top-k probabilities (at least 0). */
  outsideTopK: { mean: number; max: number; histogram: Histogram };
  /** Ten bins of crop scale over the sampler's scale range. */
  byScale: ScaleBin[];
  /** Every class, worst agreement first (classes without records last), ties by index. */
  byClass: ClassAgreement[];
}

/** Per-image facts the accumulator needs next to an epoch block. */
export interface ImageFacts {
  /** Folder class of each record's image, record order (one entry per image, `crops` records each). */
  classOf: ArrayLike<number>;
  /** Pixel area of each image, same order as `classOf`. */
  areaOf: ArrayLike<number>;
}

export interface StatsSettings {
  classes: readonly string[];
  topK: number;
  target: TargetMode;
  /** The sampler's scale range: the crop-scale bins span it. */
  scale: readonly [number, number];
  /** Bins of the three histograms (default 40). */
  bins?: number;
}

export const SCALE_BINS = 10;
/** Fine bins of the mass outside the top-k, merged into `bins` over [0, a rounded-up maximum]. */
const OUTSIDE_FINE_BINS = 4000;
/** Upper ends the outside-mass histogram can span: each divides OUTSIDE_FINE_BINS into whole multiples of 40. */
const OUTSIDE_RANGES = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];
const LN2 = Math.log(2);

/**
 * Accumulates record statistics over epoch blocks, in any number of `add` calls.
 *
 * @example
 * const stats = new StatsAccumulator({ classes: ['cat', 'dog'], topK: 2, target: 'marginal', scale: [0.08, 1] });
 * stats.add(block, { classOf: [0, 1], areaOf: [500 * 375, 640 * 480] });
 * console.log(stats.result().agreement);
 */
export class StatsAccumulator {
  private readonly numClasses: number;
  private readonly topK: number;
  private readonly marginal: boolean;
  private readonly bins: number;
  private readonly scaleFrom: number;
  private readonly scaleWidth: number;
  private readonly entropyMax: number;
  private readonly top1Counts: Float64Array;
  private readonly entropyCounts: Float64Array;
  private readonly outsideCounts: Float64Array;
  private readonly scaleRecords = new Float64Array(SCALE_BINS);
  private readonly scaleAgreeing = new Float64Array(SCALE_BINS);
  private readonly classRecords: Float64Array;
  private readonly classAgreeing: Float64Array;
  private probabilities = new Float32Array(0);
  private records = 0;
  private agreeing = 0;
  private top1Sum = 0;
  private entropySum = 0;
  private outsideSum = 0;
  private outsideMax = 0;

  constructor(private readonly settings: StatsSettings) {
    const { classes, topK, scale } = settings;
    if (classes.length < 1) throw new FkdError('E_USAGE', 'Expected at least one class for the report statistics.');
    if (!Number.isInteger(topK) || topK < 1 || topK > classes.length) {
      throw new FkdError('E_USAGE', `Expected topK in 1..${classes.length} but received ${String(topK)}.`);
    }
    if (!(scale[0] >= 0 && scale[1] > scale[0])) {
      throw new FkdError('E_USAGE', `Expected a scale range 0 ≤ min < max but received ${scale.join(',')}.`);
    }
    this.numClasses = classes.length;
    this.topK = topK;
    this.marginal = settings.target === 'marginal';
    this.bins = settings.bins ?? 40;
    this.scaleFrom = scale[0];
    this.scaleWidth = (scale[1] - scale[0]) / SCALE_BINS;
    // Marginal smoothing can spread mass over every class; renorm keeps k of them.
    this.entropyMax = Math.log2(this.marginal ? this.numClasses : this.topK);
    this.top1Counts = new Float64Array(this.bins);
    this.entropyCounts = new Float64Array(this.bins);
    this.outsideCounts = new Float64Array(OUTSIDE_FINE_BINS);
    this.classRecords = new Float64Array(this.numClasses);
    this.classAgreeing = new Float64Array(this.numClasses);
  }

  /** Adds the records of one epoch block; `facts` describes the images they belong to. */
  add(block: EpochRecords, facts: ImageFacts): void {
    const { count, crops, topK } = block;
    if (topK !== this.topK) throw new FkdError('E_USAGE', `Expected epoch blocks with topK ${this.topK} but received ${topK}.`);
    if (count !== facts.classOf.length * crops || facts.areaOf.length !== facts.classOf.length) {
      throw new FkdError('E_USAGE', `Expected facts for ${count / crops} images but received ${facts.classOf.length} classes and ${facts.areaOf.length} areas.`);
    }
    if (this.probabilities.length < count * topK) this.probabilities = new Float32Array(count * topK);
    const probabilities = decodeProbabilities(block.codes, this.probabilities.subarray(0, count * topK));
    const others = this.numClasses - topK;
    for (let record = 0; record < count; record++) {
      const image = Math.floor(record / crops);
      const folder = facts.classOf[image]!;
      const base = record * topK;
      const top1 = probabilities[base]!;
      let sum = 0;
      for (let j = 0; j < topK; j++) sum += probabilities[base + j]!;
      const outside = Math.max(0, 1 - sum);
      let entropy = 0;
      if (this.marginal) {
        for (let j = 0; j < topK; j++) entropy -= plogp(probabilities[base + j]!);
        // The leftover is spread evenly over the other C − k classes.
        if (others > 0 && outside > 0) entropy -= outside * Math.log(outside / others);
      } else if (sum > 0) {
        for (let j = 0; j < topK; j++) entropy -= plogp(probabilities[base + j]! / sum);
      } else {
        entropy = Math.log(topK);
      }
      entropy = Math.max(0, entropy / LN2);
      const agrees = block.classes[base] === folder ? 1 : 0;

      this.records++;
      this.agreeing += agrees;
      this.top1Sum += top1;
      this.entropySum += entropy;
      this.outsideSum += outside;
      this.outsideMax = Math.max(this.outsideMax, outside);
      this.top1Counts[binOf(top1, 0, 1, this.bins)]!++;
      this.entropyCounts[binOf(entropy, 0, this.entropyMax, this.bins)]!++;
      this.outsideCounts[binOf(outside, 0, 1, OUTSIDE_FINE_BINS)]!++;
      const scale = (block.height[record]! * block.width[record]!) / facts.areaOf[image]!;
      const scaleBin = binOf(scale, this.scaleFrom, this.scaleFrom + this.scaleWidth * SCALE_BINS, SCALE_BINS);
      this.scaleRecords[scaleBin]!++;
      this.scaleAgreeing[scaleBin]! += agrees;
      if (folder >= 0 && folder < this.numClasses) {
        this.classRecords[folder]!++;
        this.classAgreeing[folder]! += agrees;
      }
    }
  }

  /** The statistics of every record added so far. */
  result(): RecordStats {
    const n = this.records;
    const mean = (sum: number): number => (n === 0 ? 0 : sum / n);
    const histogram = (counts: Float64Array, to: number): Histogram => ({ from: 0, to, counts: Array.from(counts) });
    const byScale: ScaleBin[] = Array.from({ length: SCALE_BINS }, (_, bin) => {
      const records = this.scaleRecords[bin]!;
      const agreeing = this.scaleAgreeing[bin]!;
      return { from: this.scaleFrom + bin * this.scaleWidth, to: this.scaleFrom + (bin + 1) * this.scaleWidth, records, agreeing, agreement: records === 0 ? null : agreeing / records };
    });
    const byClass: ClassAgreement[] = this.settings.classes.map((name, index) => {
      const records = this.classRecords[index]!;
      const agreeing = this.classAgreeing[index]!;
      return { index, name, records, agreeing, agreement: records === 0 ? null : agreeing / records };
    });
    byClass.sort((a, b) => (a.agreement ?? Infinity) - (b.agreement ?? Infinity) || a.index - b.index);
    return {
      records: n,
      agreeing: this.agreeing,
      agreement: n === 0 ? null : this.agreeing / n,
      top1: { mean: mean(this.top1Sum), histogram: histogram(this.top1Counts, 1) },
      entropy: { mean: mean(this.entropySum), max: this.entropyMax, histogram: histogram(this.entropyCounts, this.entropyMax) },
      outsideTopK: { mean: mean(this.outsideSum), max: this.outsideMax, histogram: this.outsideHistogram() },
      byScale,
      byClass,
    };
  }

  /** Usually all mass sits near 0, so the histogram spans [0, the smallest range holding the maximum]. */
  private outsideHistogram(): Histogram {
    const to = OUTSIDE_RANGES.find((range) => this.outsideMax < range) ?? 1;
    const used = Math.round(to * OUTSIDE_FINE_BINS);
    const counts = new Array<number>(this.bins).fill(0);
    for (let fine = 0; fine < OUTSIDE_FINE_BINS; fine++) {
      const n = this.outsideCounts[fine]!;
      if (n > 0) counts[Math.min(this.bins - 1, Math.floor((Math.min(fine, used - 1) * this.bins) / used))]! += n;
    }
    return { from: 0, to, counts };
  }
}

function plogp(p: number): number {
  return p > 0 ? p * Math.log(p) : 0;
}

/** The bin of `value` among `bins` equal bins over [from, to], clamped to the end bins. */
export function binOf(value: number, from: number, to: number, bins: number): number {
  if (!(to > from)) return 0;
  const bin = Math.floor(((value - from) / (to - from)) * bins);
  return bin < 0 ? 0 : bin >= bins ? bins - 1 : bin;
}
