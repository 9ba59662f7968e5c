import { FkdError } from '../errors.js';
import { decodeProbabilities, encodeProbability } from '../labels/codec.js';
import { ensembleTopK, mergeTeachers } from '../labels/ensemble.js';
import { cropsDigest } from './boxes-from.js';
import { configDifferences } from './config.js';
import type { DecodedShard, EpochRecords, ImageBlock } from './format/columns.js';
import { LabelSet, openLabels, remember, RETAINED_EPOCHS, type OpenLabelsOptions } from './labels.js';
import type { Manifest, ManifestTeacher, ShardEntry } from './manifest.js';

export interface OpenEnsembleOptions extends OpenLabelsOptions {
  /** One weight per store, each > 0; normalised to sum to 1. Default: equal weights. */
  weights?: number[];
}

/**
 * Several teachers' labels of the same crops, read as one label set: each record's target is
 * the weighted mean of the teachers' distributions (labels/ensemble.ts), with as many entries
 * as the teachers name together. The loader, `fkd train` and `distill` take it like any set.
 */
export class EnsembleLabels extends LabelSet {
  /** Merged blocks of the current and the prefetched epoch, so a merge runs once per block. */
  private readonly merged = new Map<number, Map<string, Promise<EpochRecords>>>();

  constructor(
    readonly members: LabelSet[],
    readonly weights: number[],
    manifest: Manifest,
  ) {
    super(members[0]!.store, manifest, members.every((member) => member.allowIncomplete));
  }

  /** The teachers, in the order of `members`. */
  get teachers(): ManifestTeacher[] {
    return this.members.map((member) => member.manifest.teacher);
  }

  override readImages(shard: ShardEntry): Promise<ImageBlock> {
    return this.members[0]!.readImages(shard);
  }

  override readEpoch(shard: ShardEntry, epoch: number): Promise<EpochRecords> {
    let blocks = this.merged.get(epoch);
    if (!blocks) {
      blocks = new Map();
      this.merged.set(epoch, blocks);
      while (this.merged.size > RETAINED_EPOCHS) this.merged.delete(this.merged.keys().next().value!);
    }
    return remember(blocks, shard.key, () => this.mergeEpoch(shard, epoch));
  }

  private async mergeEpoch(shard: ShardEntry, epoch: number): Promise<EpochRecords> {
    const blocks = await Promise.all(this.members.map((member) => member.readEpoch(memberShard(member, shard), epoch)));
    const first = blocks[0]!;
    blocks.forEach((block, t) => {
      const differs = firstDifferentBox(first, block);
      if (differs !== undefined) {
        throw new FkdError('E_OPTIONS_MISMATCH', `${this.members[t]!.location} and ${this.members[0]!.location} label different crops (${shard.key} epoch ${epoch} record ${differs}): a teacher mean needs the same boxes. Label the second with \`fkd label --like ${this.members[0]!.location}\`.`, { path: this.members[t]!.location });
      }
    });
    const rows = first.count;
    const merged = mergeTeachers(
      blocks.map((block, t) => ({ classes: block.classes, probs: decodeProbabilities(block.codes), k: block.topK, mode: this.members[t]!.manifest.codec.target })),
      this.weights,
      this.numClasses,
      rows,
    );
    const codes = new Uint16Array(merged.probs.length);
    for (let q = 0; q < codes.length; q++) codes[q] = encodeProbability(merged.probs[q]!);
    return { ...first, topK: merged.k, classes: merged.classes, codes, probs: merged.probs };
  }

  /** Prefetches the members' blocks and merges them as they arrive, while the current epoch runs. */
  override prefetchEpoch(epoch: number): void {
    if (epoch < 0 || epoch >= this.epochs || this.merged.has(epoch)) return;
    for (const member of this.members) member.prefetchEpoch(epoch);
    for (const shard of this.manifest.shards) this.readEpoch(shard, epoch).catch(() => undefined);
  }

  override async verifyShard(shard: ShardEntry): Promise<DecodedShard> {
    const [first] = await Promise.all(this.members.map((member) => member.verifyShard(memberShard(member, shard))));
    return first!;
  }
}

function memberShard(member: LabelSet, shard: ShardEntry): ShardEntry {
  return member.manifest.shards.find((entry) => entry.index === shard.index)!;
}

/** The first record whose box or flip differs, or undefined. */
function firstDifferentBox(a: EpochRecords, b: EpochRecords): number | undefined {
  if (a.count !== b.count) return Math.min(a.count, b.count);
  for (let r = 0; r < a.count; r++) {
    if (a.top[r] !== b.top[r] || a.left[r] !== b.left[r] || a.height[r] !== b.height[r] || a.width[r] !== b.width[r] || a.flip[r] !== b.flip[r]) return r;
  }
  return undefined;
}

/** What must be equal for two stores to hold the same crops of the same images. */
function cropIdentity(manifest: Manifest): unknown {
  return {
    dataset: { images: manifest.dataset.images, classes: manifest.dataset.classes, fingerprint: manifest.dataset.fingerprint, skipped: manifest.dataset.skipped.map((s) => s.index) },
    sampler: manifest.sampler,
    shardImages: manifest.shardImages,
    shards: manifest.shards.map((shard) => ({ index: shard.index, imageStart: shard.imageStart, imageCount: shard.imageCount, records: shard.records })),
  };
}

/**
 * Opens several label stores of the same crops, by different teachers (made with
 * `fkd label --like`), as one set whose targets are the weighted mean of theirs. Stores whose
 * crops differ are refused, naming the first setting that differs.
 *
 * @example
 * const labels = await openEnsemble(['labels-effnet', 'labels-vit'], { weights: [0.5, 0.5] });
 * for await (const batch of createLoader({ data: 'train', labels, epoch: 0, batchSize: 256 })) train(batch);
 */
export async function openEnsemble(locations: string[], options: OpenEnsembleOptions = {}): Promise<EnsembleLabels> {
  const { weights: given, ...open } = options;
  if (locations.length < 2) throw new FkdError('E_USAGE', `A teacher mean needs at least two label stores; received ${locations.length}.`);
  const weights = given ?? locations.map(() => 1);
  if (weights.length !== locations.length || !weights.every((w) => Number.isFinite(w) && w > 0)) {
    throw new FkdError('E_USAGE', `Expected one weight > 0 per store (${locations.length}) but received [${weights.join(', ')}].`);
  }
  // Scaled by the largest first: weights near the float maximum (1e308, 1e308) would sum to
  // Infinity and normalise to zeros, silently training on all-zero targets.
  const largest = Math.max(...weights);
  const scaled = weights.map((w) => w / largest);
  const total = scaled.reduce((sum, w) => sum + w, 0);
  const opened = await Promise.all(locations.map((location) => openLabels(location, open)));
  // A --like member whose base is another member takes its boxes from that very set, so the
  // base's blocks are read, verified and decoded once, not once per role.
  const members = await Promise.all(opened.map(async (member, i) => {
    const digest = member.manifest.boxesFrom?.digest;
    const base = digest === undefined ? undefined : opened.find((other, j) => j !== i && cropsDigest(other.manifest) === digest);
    return base ? openLabels(locations[i]!, { ...open, boxes: base }) : member;
  }));
  const base = cropIdentity(members[0]!.manifest);
  members.slice(1).forEach((member, i) => {
    const differences = configDifferences(base, cropIdentity(member.manifest));
    if (differences.length > 0) {
      throw new FkdError('E_OPTIONS_MISMATCH', `${member.location} does not hold the crops of ${members[0]!.location}, so their teachers cannot be averaged:\n  ${differences.slice(0, 8).join('\n  ')}\nLabel it with \`fkd label --like ${members[0]!.location}\`.`, { path: locations[i + 1]! });
    }
  });
  const first = members[0]!.manifest;
  const topK = ensembleTopK(members.map((member) => member.manifest.codec.topK), first.dataset.classes.length);
  // Targets are the explicit mean, which the marginal codec rebuilds exactly.
  const manifest: Manifest = { ...first, codec: { ...first.codec, topK, target: 'marginal' } };
  return new EnsembleLabels(members, scaled.map((w) => w / total), manifest);
}
