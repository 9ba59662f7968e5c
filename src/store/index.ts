// `fkd/store`: label stores without the label pass. Drivers, the reader, the manifest, and the
// block decoders and probability decoding for tools that read shards themselves
// (docs/FORMAT.md). Writing stays with `label` and `finalizeStore`.

export type { ReadOptions, StoreDriver } from '../storage/driver.js';
export { openStore, registerStoreDriver, type DriverFactory, type OpenStoreOptions } from '../storage/open.js';
export { FsStore } from '../storage/fs.js';
export { CachedStore, type CachedStoreOptions } from '../storage/cache.js';
export { openLabels, LabelSet, type OpenLabelsOptions } from './labels.js';
export { openEnsemble, EnsembleLabels, type OpenEnsembleOptions } from './ensemble.js';
export { parseManifest, type Manifest, type ShardEntry, type SkippedImage } from './manifest.js';
export { MANIFEST_KEY, CONFIG_KEY, shardKey, shardEntryKey } from './layout.js';
export { assembleManifest, type AssembleOptions } from './assemble.js';
export type { Slice } from './shards.js';
export { decodeEpochBlock, decodeImageBlock, decodeShard } from './format/decode.js';
export { presentImages, type EpochRecords, type ImageBlock, type ShardLayout } from './format/columns.js';
export { decodeProbability, decodeProbabilities, type CodecDescription } from '../labels/codec.js';
