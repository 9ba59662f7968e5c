import { imagePath, type Dataset } from '../dataset/scan.js';
import type { ImageJob, RenderSettings } from './job.js';
import { rowBox, rowPath, type EpochPlan } from './plan.js';

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
