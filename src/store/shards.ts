// Which images each shard holds, and which worker slice writes it: a pure function of the
// image count and the shard size, shared by the label pass and by manifest assembly.

/** A contiguous range of images written as one shard object. */
export interface ShardPlan {
  index: number;
  imageStart: number;
  imageCount: number;
}

/** Which part of the work one machine does: worker `index` of `count`. */
export interface Slice {
  index: number;
  count: number;
}

/** Splits `images` into shards of `shardImages`, the last one shorter. */
export function planShards(images: number, shardImages: number): ShardPlan[] {
  const shards: ShardPlan[] = [];
  for (let start = 0, index = 0; start < images; start += shardImages, index++) {
    shards.push({ index, imageStart: start, imageCount: Math.min(shardImages, images - start) });
  }
  return shards;
}

/**
 * The shards worker `slice.index` of `slice.count` writes: every count-th shard. Striding
 * rather than cutting contiguous blocks spreads slow class folders over all workers, and
 * the set depends only on (shard, slice), so no two workers ever write the same object.
 */
export function shardsOfSlice(shards: readonly ShardPlan[], slice: Slice): ShardPlan[] {
  return shards.filter((shard) => shard.index % slice.count === slice.index);
}

/** The worker that owns a shard. */
export function sliceOfShard(shardIndex: number, count: number): number {
  return shardIndex % count;
}
