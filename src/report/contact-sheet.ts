// The contact sheet's pictures: each sampled crop rendered by the renderer the loader uses, at
// the loader's default size and filter (the teacher's input size and interpolation), so the
// picture is exactly the student's input. PNG, because a lossy format would alter those pixels.
import sharp from 'sharp';
import { renderCrop, type Interpolation } from '../crop/render.js';
import { decodeAsLabelled } from '../dataset/decode.js';
import { imagePath, scanDataset } from '../dataset/scan.js';
import { datasetDifference } from '../store/dataset-check.js';
import { FkdError } from '../errors.js';
import type { SampledRecord } from './sample.js';

export interface ContactSheetOptions {
  /** The ImageFolder tree the labels were made from. */
  data: string;
  /** The store's dataset fingerprint: the tree must match it. */
  fingerprint: string;
  /** The store's `dataset.classes` and image count, compared with the tree too when given (docs/FORMAT.md §3). */
  classes?: string[];
  images?: number;
  /** Side of each rendered crop in pixels. */
  size: number;
  interpolation: Interpolation;
  maxPixels: number;
  /** The store's `sampler.decoder`: crops are decoded as the labeler decoded them. */
  decoder: string | undefined;
  location: string;
}

/** A sampled record and its rendered crop. */
export interface SheetPicture {
  record: SampledRecord;
  png: Uint8Array;
}

/**
 * Renders the sampled records from the dataset, decoding each image once.
 *
 * @example
 * const pictures = await renderContactSheet(data.sample, { data: 'train/', fingerprint, size: 224, interpolation: 'bicubic', maxPixels, decoder: manifest.sampler.decoder, location });
 */
export async function renderContactSheet(records: readonly SampledRecord[], options: ContactSheetOptions): Promise<SheetPicture[]> {
  const dataset = await scanDataset(options.data);
  const difference = datasetDifference(dataset, { classes: options.classes ?? dataset.classes, images: options.images ?? dataset.images.length, fingerprint: options.fingerprint });
  if (difference !== undefined) {
    throw new FkdError('E_DATASET_MISMATCH', `${dataset.root} is not the dataset ${options.location} was labelled from (${difference.detail}). Point the data option at the same tree.`, { path: dataset.root, option: 'data' });
  }
  const byPath = new Map<string, SampledRecord[]>();
  for (const record of records) byPath.set(record.path, [...(byPath.get(record.path) ?? []), record]);
  const pngs = new Map<SampledRecord, Uint8Array>();
  for (const [path, group] of byPath) {
    const image = await decodeAsLabelled(imagePath(dataset, { path }), path, options.decoder, { maxPixels: options.maxPixels });
    for (const record of group) {
      const pixels = renderCrop(image, record.box, options.size, options.interpolation);
      const png = await sharp(pixels, { raw: { width: options.size, height: options.size, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
      pngs.set(record, new Uint8Array(png.buffer, png.byteOffset, png.byteLength));
    }
  }
  return records.map((record) => ({ record, png: pngs.get(record)! }));
}
