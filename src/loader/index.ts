// `fkd/loader`: the student side. Streams (crop, soft label) batches from a label store; never
// loads a teacher.

export { createLoader, type Loader, type LoaderOptions, type LoaderStats } from './loader.js';
export { cloneBatch, type Batch, type BatchSamples, type BatchTargets, type SampleMeta } from './batch.js';
export { transformRandom, type BatchTransform, type TransformContext } from './transforms.js';
export { denseTarget } from '../labels/codec.js';
export type { TargetMode } from '../labels/targets.js';
// The parts the loader is built from, which `fkd bench` measures on their own: an epoch's plan, its
// image order, and the shared render threads.
export { planEpoch, type EpochPlan, type PlanOptions } from './plan.js';
export { epochOrder } from './order.js';
export { sharedRenderPool, type RenderPool } from '../render/pool.js';
export type { ImageJob } from '../render/job.js';
export type { MixOptions } from './mix.js';
