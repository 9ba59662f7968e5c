import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFkdError } from '../../../src/errors.js';
import { contentHash, CONTENT_HASH_BYTES } from '../../../src/dataset/file.js';
import { codecDescription, encodeProbability } from '../../../src/labels/codec.js';
import { syntheticDataset } from '../../../src/measure/synthetic-store.js';
import type { StoreDriver } from '../../../src/storage/driver.js';
import { FsStore } from '../../../src/storage/fs.js';
import { S3Store } from '../../../src/storage/s3.js';
import type { LabelConfig } from '../../../src/store/config.js';
import type { EpochRecords, ImageBlock } from '../../../src/store/format/columns.js';
import { encodeShard } from '../../../src/store/format/encode.js';
import { CONFIG_KEY, MANIFEST_KEY, shardEntryKey, shardKey } from '../../../src/store/layout.js';
import { openLabels } from '../../../src/store/labels.js';
import { MANIFEST_VERSION } from '../../../src/store/manifest.js';
import { planShards, type ShardPlan } from '../../../src/store/shards.js';
import { LabelStoreWriter, type ShardCommit } from '../../../src/store/writer/writer.js';
import { startS3Server, type S3TestServer } from '../../helpers/s3-server.js';

// One contract for the label store's writer, run against every driver: the order of its writes,
// resume, the claim, and the manifest last.

const IMAGES = 5;
const SHARD_IMAGES = 2;
const CLASSES = 3;
const dataset = syntheticDataset('/nonexistent', IMAGES, CLASSES);

function config(seed = 0): LabelConfig {
  return {
    format: 'fkd-labels-config',
    version: MANIFEST_VERSION,
    dataset: { images: IMAGES, classes: dataset.classes, fingerprint: dataset.fingerprint },
    teacher: { file: 't.onnx', sha256: '0'.repeat(64), engine: 'onnx', inputSize: 32, layout: 'nchw', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], outputs: 'logits', temperature: 1 },
    sampler: { seed, scale: [0.08, 1], ratio: [0.75, 4 / 3], flip: 0.5, epochs: 1, crops: 1, interpolation: 'bilinear', maxPixels: 1_000_000 },
    codec: codecDescription(1, 'marginal'),
    shardImages: SHARD_IMAGES,
  };
}

/** A real encoded shard: one crop per image, the whole 20×10 image, its class at 0.9. */
function encoded(shard: ShardPlan): ShardCommit {
  const count = shard.imageCount;
  const paths = dataset.images.slice(shard.imageStart, shard.imageStart + count).map((image) => image.path);
  const hashes = new Uint8Array(count * CONTENT_HASH_BYTES);
  paths.forEach((path, i) => hashes.set(contentHash(new TextEncoder().encode(path)), i * CONTENT_HASH_BYTES));
  const block: ImageBlock = { imageStart: shard.imageStart, imageCount: count, widths: new Uint32Array(count).fill(20), heights: new Uint32Array(count).fill(10), skipped: [], paths, contentHashes: hashes };
  const records: EpochRecords = {
    epoch: 0,
    crops: 1,
    topK: 1,
    count,
    top: new Uint16Array(count),
    left: new Uint16Array(count),
    height: new Uint16Array(count).fill(10),
    width: new Uint16Array(count).fill(20),
    flip: new Uint8Array(count),
    classes: Uint32Array.from(paths, (_, i) => dataset.images[shard.imageStart + i]!.classIndex),
    codes: new Uint16Array(count).fill(encodeProbability(0.9)),
  };
  const { bytes, layout } = encodeShard(block, [records], CLASSES);
  return { shard, bytes, layout, records: count, skipped: [] };
}

/** The real driver, with every write it is asked for recorded in order; `failPut` makes one key's put fail once. */
function recorded(inner: StoreDriver, failPut?: string): { store: StoreDriver; writes: string[] } {
  const writes: string[] = [];
  let failed = false;
  const store: StoreDriver = {
    location: inner.location,
    get: (key, options) => inner.get(key, options),
    getRange: (key, offset, length, options) => inner.getRange(key, offset, length, options),
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
    put: async (key, data) => {
      if (key === failPut && !failed) {
        failed = true;
        throw new Error(`injected failure writing ${key}`);
      }
      await inner.put(key, data);
      writes.push(key);
    },
    ...(inner.putIfAbsent
      ? {
          putIfAbsent: async (key: string, data: Uint8Array) => {
            const created = await inner.putIfAbsent!(key, data);
            if (created) writes.push(key);
            return created;
          },
        }
      : {}),
  };
  return { store, writes };
}

const shards = planShards(IMAGES, SHARD_IMAGES);

let server: S3TestServer;
let count = 0;
const directories: string[] = [];
const s3Stores: S3Store[] = [];

beforeAll(async () => {
  server = await startS3Server();
});

afterAll(async () => {
  for (const store of s3Stores) store.close();
  await server.stop();
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

const drivers: Array<[string, () => Promise<StoreDriver>]> = [
  [
    'fs',
    async () => {
      const directory = await mkdtemp(join(tmpdir(), 'fkd-writer-'));
      directories.push(directory);
      return new FsStore(directory);
    },
  ],
  [
    's3',
    async () => {
      const store = new S3Store(`s3://${server.bucket}/writer-${(count += 1)}`, { endpoint: server.endpoint });
      s3Stores.push(store);
      return store;
    },
  ],
];

describe.each(drivers)('LabelStoreWriter on %s', (_name, fresh) => {
  it('writes config first, each shard object before its entry, and the manifest last', async () => {
    const { store, writes } = recorded(await fresh());
    const writer = await LabelStoreWriter.claim(store, config(), { backend: 'test/cpu' });
    for (const shard of shards) {
      expect(await writer.finished(shard)).toBeNull();
      await writer.commit(encoded(shard));
    }
    await writer.finalize();
    // Claim marks (S3) come and go around config.json; the label store's own keys are what count.
    const own = writes.filter((key) => !key.startsWith('.fkd-claims/'));
    expect(own).toEqual([CONFIG_KEY, ...shards.flatMap((shard) => [shardKey(shard.index), shardEntryKey(shard.index)]), MANIFEST_KEY]);
    const labels = await openLabels(store.location, store.location.startsWith('s3://') ? { s3: { endpoint: server.endpoint } } : {});
    expect(labels.manifest.shards.map((shard) => shard.imageCount)).toEqual([2, 2, 1]);
    expect(labels.manifest.totals.records).toBe(IMAGES);
  });

  it('writes no manifest while a shard is missing, and no entry for a shard whose object failed to land', async () => {
    const { store } = recorded(await fresh(), shardKey(1));
    const writer = await LabelStoreWriter.claim(store, config(), { backend: 'test/cpu' });
    await writer.commit(encoded(shards[0]!));
    await expect(writer.commit(encoded(shards[1]!))).rejects.toThrow('injected failure');
    expect(await store.head(shardEntryKey(1))).toBeNull();
    await writer.commit(encoded(shards[2]!));
    const refused = await writer.finalize().catch((error: unknown) => error);
    expect(isFkdError(refused), String(refused)).toBe(true);
    expect(await store.head(MANIFEST_KEY)).toBeNull();
  });

  it('resumes: a second run with the same settings finds the finished shards and remakes a damaged one', async () => {
    const store = await fresh();
    const first = await LabelStoreWriter.claim(store, config(), { backend: 'test/cpu' });
    const committed = [];
    for (const shard of shards) committed.push(await first.commit(encoded(shard)));
    // Shard 1's object is replaced by other bytes of the same size: its entry no longer vouches for it.
    const damaged = new Uint8Array(await store.get(shardKey(1)));
    damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 0xff;
    await store.put(shardKey(1), damaged);

    const second = await LabelStoreWriter.claim(store, config(), { backend: 'test/cpu' });
    expect(await second.finished(shards[0]!)).toEqual(committed[0]);
    expect(await second.finished(shards[1]!)).toBeNull();
    expect(await store.head(shardEntryKey(1))).toBeNull();
    expect(await second.finished(shards[2]!)).toEqual(committed[2]);
    await second.commit(encoded(shards[1]!));
    const manifest = await second.finalize();
    expect(manifest.shards.map((shard) => shard.index)).toEqual([0, 1, 2]);
  });

  it('claims a store for one set of settings: a run with others is refused, and of two racing, exactly one wins', async () => {
    const store = await fresh();
    await LabelStoreWriter.claim(store, config(1), { backend: 'test/cpu' });
    const other = await LabelStoreWriter.claim(store, config(2), { backend: 'test/cpu' }).catch((error: unknown) => error);
    expect(isFkdError(other, 'E_OPTIONS_MISMATCH'), String(other)).toBe(true);
    expect((other as Error).message).toContain('sampler.seed: 1 → 2');

    const raced = await fresh();
    const outcomes = await Promise.allSettled([LabelStoreWriter.claim(raced, config(3), { backend: 'a' }), LabelStoreWriter.claim(raced, config(4), { backend: 'b' })]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const lost = outcomes.find((outcome) => outcome.status === 'rejected');
    expect(isFkdError(lost?.reason, 'E_OPTIONS_MISMATCH'), String(lost?.reason)).toBe(true);
  });

  it('records its slice and backend in each entry, for finalize to name the slices that owe shards', async () => {
    const store = await fresh();
    const writer = await LabelStoreWriter.claim(store, config(), { backend: 'onnx/cpu', slice: { index: 1, count: 3 } });
    const entry = await writer.commit(encoded(shards[1]!));
    expect(entry).toMatchObject({ backend: 'onnx/cpu', slice: { index: 1, count: 3 }, shard: { index: 1, key: shardKey(1), records: 2 } });
    const refused = await writer.finalize().catch((error: unknown) => error);
    expect((refused as Error).message).toContain('worker slices 0/3, 2/3');
  });
});
