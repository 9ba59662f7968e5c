// The public surface of fkd: the library, not the CLI (bin/fkd.js runs dist/cli/main.js).
// Everything the CLI does is reachable from here. package.json maps `fkd/loader`,
// `fkd/store` and `fkd/train` to the smaller entries in those folders.

export { FkdError, isFkdError, type FkdErrorCode, type FkdErrorOptions } from './errors.js';
export { SUPPORTED_NODE_MAJORS, endOfLifeNotice } from './node-support.js';

// images → crops
export { scanDataset, fingerprintOf, type Dataset, type DatasetImage } from './dataset/scan.js';
export { decodeImage, DEFAULT_MAX_PIXELS, type DecodeOptions } from './dataset/decode.js';
export type { RgbImage } from './dataset/image.js';
export type { CropBox, CropSpec } from './crop/box.js';
export { sampleCrop, defaultSamplerOptions, type SamplerOptions } from './crop/sampler.js';
export { renderCrop, renderNormalized, rendererBackend, type Interpolation } from './crop/render.js';
export { writeNormalized, imagenetNormalization, type Layout, type Normalization } from './crop/tensor.js';

// WebDataset shard sets: fkd pack, and --data as a shard set
export { pack, type PackOptions, type PackResult } from './webdataset/pack.js';
export { PACK_DEFAULTS, PACK_SCHEMA } from './webdataset/options.js';
export { openDataset, type OpenDatasetOptions } from './webdataset/open.js';
export { openShardSet, isShardSetSpec } from './webdataset/shard-set.js';
export { parseShardIndex, SHARD_INDEX_KEY, type ShardIndex, type ShardIndexEntry } from './webdataset/shard-index.js';
export { tarMembers, type ByteSource, type TarMember, type TarLimits } from './dataset/tar/read.js';
export { tarSamples, type TarSample } from './dataset/tar/samples.js';
export { TarError, type TarRule } from './dataset/tar/error.js';
export type { ImageLocation, ImageMember, ImageSource } from './dataset/source.js';

// teacher
export type { TeacherEngine, TeacherInfo, TeacherOptions, Device } from './teacher/engine.js';
export { loadTeacher } from './teacher/load.js';
export { checkClassCount, describeTeacher } from './teacher/common.js';
export { fingerprintTeacher } from './teacher/fingerprint.js';

// labels
export { toProbabilities } from './labels/probabilities.js';
export { topK } from './labels/topk.js';
export { TARGET_CODECS, TARGET_MODES, targetCodec, type TargetCodec, type TargetMode } from './labels/targets.js';

// store (also `fkd/store`)
export * from './store/index.js';

// generate
export { label, type LabelOptions, type LabelProgress, type LabelResult } from './generate/label.js';
export { finalizeStore, type FinalizeOptions } from './store/writer/finalize.js';
export { parseSlice } from './generate/plan.js';
export { storeInfo, type StoreInfo } from './check/info.js';
export { verifyStore, type VerifyOptions, type VerifyReport } from './check/verify.js';

// report
export { collectReport, type CollectOptions, type CollectProgress, type ReportData } from './report/collect.js';
export { writeReport, DEFAULT_SHEET_CROPS, MAX_SHEET_CROPS, type WriteReportOptions } from './report/report.js';
export { renderContactSheet, type ContactSheetOptions, type SheetPicture } from './report/contact-sheet.js';
export { reportHtml } from './report/html.js';
export type { RecordStats, Histogram, ScaleBin, ClassAgreement } from './report/stats.js';
export type { SampledRecord } from './report/sample.js';

// loader (also `fkd/loader`)
export * from './loader/index.js';

// trainer (also `fkd/train`)
export * from './train/index.js';
