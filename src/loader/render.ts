import { imageLocation, type Dataset } from '../dataset/scan.js';
import type { BatchRing } from './assemble.js';
import { renderIntoRing } from '../render/job.js';
import { rowImage, rowPath, type EpochPlan } from './plan.js';
import { sharedRenderPool } from '../render/pool.js';

/** The render stage: decodes an image once, checks it is the labelled file, and renders its crops into their ring places. */
export interface RenderStage {
  /** Renders plan row `row`'s crops into ring places `places` (crop c → places[c]); true when the render thread decoded the image itself. */
  render(row: number, places: number[]): Promise<boolean>;
  /** Stops using the ring (after every render has settled). */
  close(): void;
}

/**
 * Renders on `threads` shared render threads, or on the calling thread when `threads` is 0.
 * The ring is registered with the threads once here, and released by `close`.
 *
 * @example
 * const stage = renderStage(dataset, plan, ring, 2);
 * await stage.render(row, [0, 1, 2, 3]);
 * stage.close();
 */
export function renderStage(dataset: Dataset, plan: EpochPlan, ring: BatchRing, threads: number): RenderStage {
  const file = (row: number) => imageLocation(dataset, { path: rowPath(plan, row) });
  if (threads === 0) {
    return {
      render: async (row, places) => renderIntoRing(ring, await file(row), rowPath(plan, row), rowImage(plan, row), places),
      close: () => ring.release(),
    };
  }
  const pool = sharedRenderPool(threads);
  pool.register(ring.id, ring.settings, ring.images.buffer as SharedArrayBuffer, ring.boxes.buffer as SharedArrayBuffer, ring.renderRegions);
  return {
    render: async (row, places) => pool.render(ring.id, await file(row), rowPath(plan, row), rowImage(plan, row), places),
    close: () => {
      pool.release(ring.id);
      ring.release();
    },
  };
}
