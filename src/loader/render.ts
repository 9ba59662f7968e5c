import type { Interpolation } from '../crop/render.js';
import type { Normalization } from '../crop/tensor.js';
import { imagePath, type Dataset } from '../dataset/scan.js';
import type { Layout } from '../crop/tensor.js';
import type { ImageJob } from './job.js';
import { rowBox, rowPath, type EpochPlan } from './plan.js';

/** How every crop of a pass is rendered. */
export interface RenderSettings {
  size: number;
  interpolation: Interpolation;
  layout: Layout;
  dtype: 'float32' | 'uint8';
  normalization: Normalization;
  maxPixels: number;
}

/**
 * The render stage's unit of work: decode plan row `row`'s image once and render all its
 * stored crops.
 */
export function imageJob(dataset: Dataset, plan: EpochPlan, row: number, settings: RenderSettings): ImageJob {
  const path = rowPath(plan, row);
  return {
    file: imagePath(dataset, { path }),
    name: path,
    crops: Array.from({ length: plan.crops }, (_, crop) => rowBox(plan, row, crop)),
    ...settings,
  };
}
