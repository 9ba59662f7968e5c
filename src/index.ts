// The public surface of fkd. Everything the CLI does is reachable from here.

export { FkdError, isFkdError, type FkdErrorCode, type FkdErrorOptions } from './errors.js';

// images → crops
export { scanDataset, fingerprintOf, type Dataset, type DatasetImage } from './dataset/scan.js';
export { decodeImage, DEFAULT_MAX_PIXELS, type DecodeOptions } from './dataset/decode.js';
export type { RgbImage } from './dataset/image.js';
export type { CropBox, CropSpec } from './crop/box.js';
export { sampleCrop, defaultSamplerOptions, type SamplerOptions } from './crop/sampler.js';
export { renderCrop, renderNormalized, rendererBackend, type Interpolation } from './crop/render.js';
export { writeNormalized, imagenetNormalization, type Layout, type Normalization } from './crop/tensor.js';

// teacher
export type { TeacherEngine, TeacherInfo, TeacherOptions, Device } from './teacher/engine.js';
export { loadTeacher } from './teacher/load.js';
export { checkClassCount, describeTeacher } from './teacher/common.js';
export { fingerprintTeacher } from './teacher/fingerprint.js';

// labels
export { toProbabilities } from './labels/probabilities.js';
export { topK } from './labels/topk.js';
export { encodeProbability, decodeProbability, decodeProbabilities, denseTarget, codecDescription, type CodecDescription } from './labels/codec.js';
export { TARGET_CODECS, TARGET_MODES, targetCodec, type TargetCodec, type TargetMode } from './labels/targets.js';

// store
export type { ReadOptions, StoreDriver } from './store/drivers/driver.js';
export { openStore, registerStoreDriver, type DriverFactory, type OpenStoreOptions } from './store/drivers/open.js';
export { FsStore } from './store/drivers/fs.js';
export { CachedStore, type CachedStoreOptions } from './store/drivers/cache.js';
export { openLabels, LabelSet, type OpenLabelsOptions } from './store/labels.js';
export { parseManifest, type Manifest, type ShardEntry } from './store/manifest.js';
export { MANIFEST_KEY } from './store/layout.js';
export { decodeEpochBlock, decodeImageBlock, decodeShard, type EpochRecords, type ImageBlock, type ShardLayout } from './store/format.js';

// generate
export { label, type LabelOptions, type LabelProgress, type LabelResult } from './generate/label.js';
export { finalizeStore, type FinalizeOptions } from './generate/finalize.js';
export { assembleManifest, type AssembleOptions } from './store/assemble.js';
export { parseSlice } from './generate/plan.js';
export type { Slice } from './store/shards.js';
export { storeInfo, type StoreInfo } from './check/info.js';
export { verifyStore, type VerifyOptions, type VerifyReport } from './check/verify.js';

// loader
export { createLoader, type Loader, type LoaderOptions, type LoaderStats } from './loader/loader.js';
export { cloneBatch, type Batch, type BatchSamples, type BatchTargets, type SampleMeta } from './loader/batch.js';
export { transformRandom, type BatchTransform, type TransformContext } from './loader/transforms.js';

// trainer
export { loadTf, type TfRuntime } from './tf/runtime.js';
export type { Tf } from './tf/types.js';
export { createStudent, softCrossEntropy, batchToTensors, toTfDataset, saveCheckpoint, loadCheckpoint, trainStudent, type EpochLog, type TrainStudentOptions, type TrainResult } from './train/index.js';
export { distill, type DistillOptions } from './train/distill.js';

export { main } from './cli/main.js';
