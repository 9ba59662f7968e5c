import type { ImageBlock } from './format.js';

/**
 * Global indices of a shard's images that have records, in record order: record `r` of an
 * epoch block belongs to image `imagesWithRecords(block)[Math.floor(r / crops)]`, crop `r % crops`.
 */
export function imagesWithRecords(block: ImageBlock): number[] {
  const skipped = new Set(block.skipped);
  const images: number[] = [];
  for (let local = 0; local < block.imageCount; local++) {
    if (!skipped.has(local)) images.push(block.imageStart + local);
  }
  return images;
}
