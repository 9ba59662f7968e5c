import { FkdError } from '../errors.js';
import { decodeAsLabelled } from './decode.js';
import { contentHash, hashHex, readImageBytes } from './file.js';
import type { DecodedImage } from './image.js';
import type { ImageLocation } from './source.js';

/** What a label store says an image file is: its decoded size and, in format 2, its content hash. */
export interface LabelledImage {
  width: number;
  height: number;
  /** Lower-case hex of the stored content hash; undefined for a format 1 store, which has none. */
  hash: string | undefined;
}

const REMEDY = "Its stored crops no longer match its pixels: restore the labelled file, label the dataset again, or set onError to skip to leave it out.";

/**
 * Decodes an image file and checks it is the one that was labelled, before a crop of it is
 * replayed: the content hash of the bytes read (when the store has one), then the decoded
 * size. Either mismatch is `E_IMAGE_CHANGED` naming the file. It decodes by the store's rule
 * (`sampler.decoder`), as `decodeAsLabelled` does.
 *
 * @example
 * const image = await decodeLabelledImage('train/a/x.jpg', 'a/x.jpg', { width: 500, height: 375, hash: '0f3c…' }, 268_402_689, manifest.sampler.decoder);
 */
export async function decodeLabelledImage(file: ImageLocation, name: string, expected: LabelledImage, maxPixels: number, rule: string | undefined): Promise<DecodedImage> {
  const bytes = await readImageBytes(file, name);
  if (expected.hash !== undefined) {
    const actual = hashHex(contentHash(bytes));
    if (actual !== expected.hash) {
      throw new FkdError('E_IMAGE_CHANGED', `${name}: the file changed after it was labelled (its content hash is ${actual}, the labels say ${expected.hash}). ${REMEDY}`, { path: name });
    }
  }
  const image = await decodeAsLabelled(bytes, name, rule, { maxPixels });
  if (image.width !== expected.width || image.height !== expected.height) {
    throw new FkdError('E_IMAGE_CHANGED', `${name}: decodes to ${image.width}×${image.height}, but it was labelled at ${expected.width}×${expected.height}. ${REMEDY}`, { path: name });
  }
  return image;
}
