import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash, hashHex } from '../../src/dataset/file.js';
import { imagePath, scanDataset, type Dataset } from '../../src/dataset/scan.js';
import { tarSamples } from '../../src/dataset/tar/samples.js';
import { pack, type PackResult } from '../../src/webdataset/pack.js';
import { FIXTURE_IMAGES } from '../helpers/cli.js';
import { memorySource } from '../helpers/tar.js';

const SHARD_BYTES = 16 * 1024;
let work: string;
let dataset: Dataset;
let packed: PackResult;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-pack-'));
  dataset = await scanDataset(FIXTURE_IMAGES);
  packed = await pack({ data: FIXTURE_IMAGES, out: join(work, 'a'), shardMiB: SHARD_BYTES / 2 ** 20, prefix: 'train' });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('pack', () => {
  it('writes every image of the folder, in its order, as <key>.<ext> and <key>.cls samples', async () => {
    expect(packed.images).toBe(dataset.images.length);
    expect(packed.shards).toBeGreaterThan(2);
    const files = (await readdir(join(work, 'a'))).sort();
    expect(files).toEqual([...packed.index.shards.map((shard) => shard.name), 'index.json'].sort());
    let next = 0;
    for (const shard of packed.index.shards) {
      const bytes = new Uint8Array(await readFile(join(work, 'a', shard.name)));
      expect(bytes.length).toBe(shard.bytes);
      // The size target holds unless one sample alone is larger.
      if (shard.members.length > 1) expect(bytes.length).toBeLessThanOrEqual(SHARD_BYTES);
      for await (const sample of tarSamples(memorySource(bytes), shard.name, { maxMemberBytes: 1 << 24 })) {
        const image = dataset.images[next]!;
        const file = new Uint8Array(await readFile(imagePath(dataset, image)));
        expect(sample.key).toBe(String(next).padStart(9, '0'));
        expect(sample.image.name).toBe(`${sample.key}.jpg`);
        expect(sample.classIndex).toBe(image.classIndex);
        expect(bytes.subarray(sample.image.offset, sample.image.offset + sample.image.size)).toEqual(file);
        const local = next - packed.index.shards.slice(0, packed.index.shards.indexOf(shard)).reduce((sum, s) => sum + s.members.length, 0);
        expect([shard.paths[local], shard.offsets[local], shard.sizes[local], shard.hashes[local]]).toEqual([image.path, sample.image.offset, file.length, hashHex(contentHash(file))]);
        next++;
      }
    }
    expect(next).toBe(dataset.images.length);
  });

  it('records the classes and the folder\'s own fingerprint in the index', async () => {
    const index = JSON.parse(await readFile(join(work, 'a', 'index.json'), 'utf8'));
    expect(index.format).toBe('fkd-webdataset-index');
    expect(index.classes).toEqual(dataset.classes);
    expect(index.fingerprint).toBe(dataset.fingerprint);
  });

  it('writes the same bytes every time', async () => {
    await pack({ data: FIXTURE_IMAGES, out: join(work, 'b'), shardMiB: SHARD_BYTES / 2 ** 20, prefix: 'train' });
    for (const name of await readdir(join(work, 'a'))) expect(await readFile(join(work, 'b', name)), name).toEqual(await readFile(join(work, 'a', name)));
  });

  it('writes shards GNU tar extracts to the original bytes', async () => {
    const shard = packed.index.shards[0]!;
    const out = join(work, 'x');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xf', join(work, 'a', shard.name), '-C', out]);
    expect(await readFile(join(out, shard.members[0]!))).toEqual(await readFile(imagePath(dataset, { path: shard.paths[0]! })));
    expect(await readFile(join(out, `${shard.members[0]!.split('.')[0]}.cls`), 'utf8')).toBe(String(shard.classes[0]));
  });

  it('refuses a shard size smaller than a sample can be', async () => {
    await expect(pack({ data: FIXTURE_IMAGES, out: join(work, 'c'), shardMiB: 0 })).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringContaining('shardMiB') as string });
  });
});
