import { cp, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageFile } from '../../src/dataset/file.js';
import { imageLocation, scanDataset } from '../../src/dataset/scan.js';
import { FkdError } from '../../src/errors.js';
import { label } from '../../src/generate/label.js';
import { expandBraces } from '../../src/webdataset/braces.js';
import { openDataset } from '../../src/webdataset/open.js';
import { pack, type PackResult } from '../../src/webdataset/pack.js';
import { parseShardIndex, type ShardIndex, type ShardIndexEntry } from '../../src/webdataset/shard-index.js';
import { checkShardSet, isShardSetSpec } from '../../src/webdataset/shard-set.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli } from '../helpers/cli.js';
import { rejectionCode, thrownError } from '../helpers/errors.js';

let work: string;
let shards: string;
let packed: PackResult;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-shard-set-'));
  shards = join(work, 'wds');
  packed = await pack({ data: FIXTURE_IMAGES, out: shards, shardMiB: 1 / 64 });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A copy of the packed set whose index `edit` changed, or whose files `files` changed. */
async function variant(name: string, edit: (index: ShardIndex) => void = () => undefined): Promise<string> {
  const dir = join(work, name);
  await cp(shards, dir, { recursive: true });
  const index = structuredClone(packed.index);
  edit(index);
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return dir;
}

describe('openDataset', () => {
  it('opens the packed shards as the folder they came from: classes, order, paths, sizes, fingerprint', async () => {
    const folder = await scanDataset(FIXTURE_IMAGES);
    const set = await openDataset(shards);
    expect([set.classes, set.images, set.fingerprint]).toEqual([folder.classes, folder.images, folder.fingerprint]);
    for (const image of folder.images) {
      const location = await imageLocation(set, image);
      expect((await readImageFile(location, image.path)).bytes).toEqual(new Uint8Array(await readFile(join(FIXTURE_IMAGES, image.path))));
    }
  });

  it('tells shard sets from ImageFolders', async () => {
    expect(await isShardSetSpec(FIXTURE_IMAGES)).toBe(false);
    expect(await isShardSetSpec(shards)).toBe(true);
    expect(await isShardSetSpec(join(shards, 'shard-{000000..000002}.tar'))).toBe(true);
    expect(await isShardSetSpec(join(shards, 'index.json'))).toBe(true);
    expect(await isShardSetSpec('s3://bucket/wds')).toBe(true);
  });

  it('takes a subset by pattern, in the pattern\'s order', async () => {
    const set = await openDataset(join(shards, 'shard-{000001,000000}.tar'));
    expect(set.images.map((image) => image.path)).toEqual([...packed.index.shards[1]!.paths, ...packed.index.shards[0]!.paths]);
  });

  it('refuses a pattern naming a shard the index does not list, a missing index, a missing or truncated shard', async () => {
    expect(await rejectionCode(() => openDataset(join(shards, 'shard-{000000..999999}.tar')))).toBe('E_BAD_SHARD_SET');
    const bare = join(work, 'bare');
    await mkdir(bare);
    await cp(join(shards, 'shard-000000.tar'), join(bare, 'shard-000000.tar'));
    expect(await rejectionCode(() => openDataset(bare))).toBe('E_BAD_SHARD_SET');
    const missing = await variant('missing');
    await rm(join(missing, 'shard-000001.tar'));
    await expect(openDataset(missing)).rejects.toThrow(/shard-000001\.tar is missing/);
    const short = await variant('short');
    await truncate(join(short, 'shard-000002.tar'), 1024);
    await expect(openDataset(short)).rejects.toThrow(/shard-000002\.tar is 1024 bytes, but its index.json says/);
  });

  it('refuses a shard whose image changed after packing, naming the shard and the byte range', async () => {
    const changed = await variant('changed');
    const shard = packed.index.shards[0]!;
    const bytes = new Uint8Array(await readFile(join(changed, shard.name)));
    bytes[shard.offsets[0]! + 100]! ^= 0xff;
    await writeFile(join(changed, shard.name), bytes);
    const set = await openDataset(changed);
    const error = await readImageFile(await imageLocation(set, { path: shard.paths[0]! }), shard.paths[0]!).then(() => null, (thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(FkdError);
    expect((error as FkdError).code).toBe('E_IMAGE_CHANGED');
    expect((error as FkdError).message).toContain(`${shard.name} (bytes ${shard.offsets[0]}..`);
    // The label pass stops on it rather than label bytes the index does not vouch for.
    expect(await rejectionCode(() => label({ data: changed, teacher: FIXTURE_ONNX, out: join(work, 'changed-labels'), epochs: 1, crops: 1, threads: 1 }))).toBe('E_IMAGE_CHANGED');
  }, 60_000);
});

describe('checkShardSet', () => {
  it('walks every shard with the strict reader and finds each one that breaks a rule or differs from its index', async () => {
    expect(await checkShardSet(shards)).toEqual({ checked: packed.shards, problems: [] });
    const broken = await variant('broken-headers');
    const [first, second] = packed.index.shards as [ShardIndexEntry, ShardIndexEntry];
    // Shard 0: a byte of its second member's header name, so that header's checksum fails.
    const a = new Uint8Array(await readFile(join(broken, first.name)));
    a[first.offsets[1]! - 512 + 3]! ^= 0x01;
    await writeFile(join(broken, first.name), a);
    // Shard 1: its first class changed, keeping the checksum right (what a rewriting tool could do).
    const b = new Uint8Array(await readFile(join(broken, second.name)));
    const clsData = second.offsets[0]! + Math.ceil(second.sizes[0]! / 512) * 512 + 512;
    b[clsData] = 0x30 + ((b[clsData]! - 0x30 + 1) % 4);
    await writeFile(join(broken, second.name), b);
    const { checked, problems } = await checkShardSet(broken);
    expect(checked).toBe(packed.shards);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(new RegExp(`${first.name}: member at byte ${first.offsets[1]! - 512}: .*\\[rule bad-checksum\\]`));
    expect(problems[1]).toMatch(new RegExp(`${second.name}: sample 0 is .*its index.json says`));
  });
});

describe('parseShardIndex: a hostile index is refused with the place and the rule', () => {
  const bytes = (index: unknown) => new TextEncoder().encode(JSON.stringify(index));
  const refuse = (edit: (index: ShardIndex) => void, message: RegExp) => {
    const index = structuredClone(packed.index);
    edit(index);
    const error = thrownError(() => parseShardIndex(bytes(index), 'x/index.json'));
    expect(error.code).toBe('E_BAD_SHARD_SET');
    expect(error.message).toMatch(message);
  };

  it('accepts what pack wrote', () => {
    expect(parseShardIndex(bytes(packed.index), 'x/index.json')).toEqual(packed.index);
  });
  it('a path outside the dataset', () => refuse((index) => (index.shards[0]!.paths[0] = 'class-a-red/../../etc/passwd'), /shards\[0\] sample 0 path must be a relative path/));
  it('a path outside its class folder', () => refuse((index) => (index.shards[0]!.paths[0] = 'class-b-green/img-0.jpg'), /must lie in its class folder class-a-red\//));
  it('a member past the end of its shard', () => refuse((index) => (index.shards[0]!.sizes[0] = index.shards[0]!.bytes), /sample 0 size must be at most/));
  it('members that overlap', () => refuse((index) => (index.shards[0]!.offsets[1] = index.shards[0]!.offsets[0]!), /sample 1 offset must be block-aligned, after the previous member/));
  it('a shard name with a folder in it', () => refuse((index) => (index.shards[0]!.name = '../x.tar'), /shards\[0\]\.name must be a plain file name/));
  it('a class index out of range', () => refuse((index) => (index.shards[0]!.classes[0] = 99), /class must be an integer in 0\.\.3/));
  it('columns of different lengths', () => refuse((index) => index.shards[0]!.hashes.pop(), /hashes must have one entry per sample/));
  it('a fingerprint that does not match', () => refuse((index) => (index.fingerprint = '0'.repeat(64)), /fingerprint does not match/));
  it('a wrong image count', () => refuse((index) => (index.images += 1), /images is 25 but the shards list 24/));
  it('not JSON', () => {
    expect(thrownError(() => parseShardIndex(new TextEncoder().encode('{'), 'x/index.json')).code).toBe('E_BAD_SHARD_SET');
  });
});

describe('expandBraces', () => {
  it('expands zero-padded ranges and lists', () => {
    expect(expandBraces('train-{000..002}.tar')).toEqual(['train-000.tar', 'train-001.tar', 'train-002.tar']);
    expect(expandBraces('{a,b}-{8..10}.tar')).toEqual(['a-8.tar', 'a-9.tar', 'a-10.tar', 'b-8.tar', 'b-9.tar', 'b-10.tar']);
  });
  it.each(['x-{3..1}.tar', 'x-{0..9999999}.tar', 'x-{a}.tar', 'x-{0..1.tar', 'x-}.tar', 'x-{{0..1}}.tar', '{0..999}{0..9999}.tar'])('refuses %j', (pattern) => {
    expect(thrownError(() => expandBraces(pattern)).code).toBe('E_BAD_SHARD_SET');
  });
});

describe('fkd pack', () => {
  it('packs from the command line, and fkd label reads the result', async () => {
    const out = join(work, 'cli');
    const packedCli = await runCli(['pack', FIXTURE_IMAGES, '--out', out, '--shard-mib', '0.02', '--prefix', 'train']);
    expect(packedCli.stderr).not.toMatch(/error/);
    expect(packedCli.code).toBe(0);
    expect(packedCli.stdout).toMatch(/packed 24 images into \d+ shards/);
    const labelled = await runCli(['label', '--data', join(out, 'train-{000000..000002}.tar'), '--teacher', FIXTURE_ONNX, '--out', join(work, 'cli-labels'), '--epochs', '1', '--crops', '1', '--threads', '1']);
    expect(labelled.code, labelled.stderr).toBe(0);
    expect(labelled.stdout).toMatch(/labelled \d+ images/);
  }, 60_000);

  it('documents itself', async () => {
    const help = await runCli(['pack', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--out', '--shard-mib', '--prefix', '--on-bad-entry', '--concurrency', '--s3-endpoint', '--json']) expect(help.stdout).toContain(flag);
  });
});
