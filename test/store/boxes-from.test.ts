import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/check/verify.js';
import { isFkdError } from '../../src/errors.js';
import { label } from '../../src/generate/label.js';
import { createLoader } from '../../src/loader/loader.js';
import { checkBoxesFromAllowed, cropsDigest, resolveBoxesFrom } from '../../src/store/boxes-from.js';
import { openLabels } from '../../src/store/labels.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, FIXTURE_TFJS } from '../helpers/cli.js';
import { errorCode } from '../helpers/errors.js';
import { sealManifest } from '../helpers/manifests.js';

/**
 * docs/FORMAT.md §2.4: a boxes-from store's base is resolved against the store, stays inside
 * its driver and bucket, is no boxes-from store itself, and has the store's structure. verify
 * and the loader must give the same verdict on every case, and refuse at open time.
 */
const V1_STORE = fileURLToPath(new URL('../fixtures/v1-store', import.meta.url));
const BOX_OUTSIDE = fileURLToPath(new URL('../fixtures/hostile/box-outside-image', import.meta.url));

let work: string;
let base: string;
let like: string;

const make = (out: string, settings: { epochs: number; crops: number; shardImages: number }) => label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out, topK: 2, seed: 7, threads: 1, ...settings });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-boxes-from-'));
  base = join(work, 'base');
  like = join(work, 'like');
  await make(base, { epochs: 2, crops: 3, shardImages: 10 });
  await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_TFJS, out: like, like: base, topK: 3, threads: 1 });
}, 120_000);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A copy of `from` (default: the like-store) whose manifest says `boxesFrom` is `boxesFrom`, re-sealed. */
async function likeWith(name: string, boxesFrom: { store: string; digest?: string }, from = like): Promise<string> {
  const copy = join(work, name);
  await cp(from, copy, { recursive: true });
  const manifest = JSON.parse(await readFile(join(copy, 'manifest.json'), 'utf8')) as { boxesFrom: { store: string; digest: string } };
  manifest.boxesFrom = { ...manifest.boxesFrom, ...boxesFrom };
  await writeFile(join(copy, 'manifest.json'), sealManifest(manifest));
  return copy;
}

const digestOf = async (store: string) => cropsDigest((await openLabels(store)).manifest);

async function codeOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (!isFkdError(error)) throw error;
    return error.code;
  }
  return 'accepted';
}

/** What verify and the loader (every epoch, every batch) say of a store: an error code or 'accepted'. */
async function verdicts(store: string, options: { allowFormat1?: boolean } = {}): Promise<{ openLabels: string; verify: string; loader: string }> {
  const opened = await codeOf(() => openLabels(store, options));
  const corrupt = await verifyStore(store, { data: FIXTURE_IMAGES, ...options }).then(
    (report) => report.shards.corrupt[0]?.code ?? (report.ok ? 'accepted' : `not ok: ${report.problems.join(' ')}`),
    (error: unknown) => {
      if (isFkdError(error)) return error.code;
      throw error;
    },
  );
  const loader = await codeOf(async () => {
    const labels = await openLabels(store, options);
    for (let epoch = 0; epoch < labels.epochs; epoch++) for await (const batch of createLoader({ data: FIXTURE_IMAGES, labels, epoch, batchSize: 16, size: 8, workers: 0 })) expect(batch.size).toBeGreaterThan(0);
  });
  return { openLabels: opened, verify: corrupt, loader };
}

describe('where a boxes-from base is', () => {
  it("resolves a relative location against the store's own, not the working directory", async () => {
    const moved = join(work, 'moved');
    await mkdir(moved);
    await cp(base, join(moved, 'base'), { recursive: true });
    const relative = await likeWith('moved/like', { store: '../base' });
    expect(process.cwd()).not.toBe(moved);
    expect(await verdicts(relative)).toEqual({ openLabels: 'accepted', verify: 'accepted', loader: 'accepted' });
    expect((await openLabels(relative)).boxes?.location).toBe(join(moved, 'base'));
    expect(resolveBoxesFrom('../base', '/data/labels/like')).toBe('/data/labels/base');
    expect(resolveBoxesFrom('/data/base', '/data/labels/like')).toBe('/data/base');
    expect(resolveBoxesFrom('../base', 's3://team/labels/like')).toBe('s3://team/labels/base');
    expect(resolveBoxesFrom('s3://team/base', '/data/like')).toBe('s3://team/base');
    expect(errorCode(() => resolveBoxesFrom('../../../base', 's3://team/labels/like'))).toBe('E_BOXES_FROM');
    expect(errorCode(() => resolveBoxesFrom('/etc', 's3://team/labels/like'))).toBe('E_BOXES_FROM');
  });

  it('follows a base only within the same driver and bucket, unless the location is allowed', async () => {
    expect(errorCode(() => checkBoxesFromAllowed('s3://elsewhere/base', '/data/like'))).toBe('E_BOXES_FROM');
    expect(errorCode(() => checkBoxesFromAllowed('/data/base', 's3://team/like'))).toBe('E_BOXES_FROM');
    expect(errorCode(() => checkBoxesFromAllowed('s3://other/base', 's3://team/like'))).toBe('E_BOXES_FROM');
    expect(errorCode(() => checkBoxesFromAllowed('s3://team/base', 's3://team/like'))).toBe('none');
    expect(errorCode(() => checkBoxesFromAllowed('/data/base', '/elsewhere/like'))).toBe('none');
    expect(errorCode(() => checkBoxesFromAllowed('s3://other/kd/base', 's3://team/like', ['s3://other/kd']))).toBe('none');
    expect(errorCode(() => checkBoxesFromAllowed('s3://other/kdx/base', 's3://team/like', ['s3://other/kd']))).toBe('E_BOXES_FROM');
    // A hostile local store sends no request to another endpoint: refused before anything is opened.
    const redirected = await likeWith('redirected', { store: 's3://elsewhere.example/base' });
    expect(await verdicts(redirected)).toEqual({ openLabels: 'E_BOXES_FROM', verify: 'E_BOXES_FROM', loader: 'E_BOXES_FROM' });
  });
});

describe('a boxes-from base that would hang or chain', () => {
  it('refuses a store that is its own base, at once', async () => {
    const self = await likeWith('self', { store: '.' });
    expect(await verdicts(self)).toEqual({ openLabels: 'E_BOXES_FROM', verify: 'E_BOXES_FROM', loader: 'E_BOXES_FROM' });
    const absolute = await likeWith('self-absolute', { store: join(work, 'self-absolute') });
    await expect(openLabels(absolute)).rejects.toMatchObject({ code: 'E_BOXES_FROM', message: expect.stringMatching(/names itself as its base \(a cycle\)/) });
  });

  it('refuses two stores that are each other’s base, and a chain of two', async () => {
    const first = await likeWith('mutual-1', { store: '../mutual-2' });
    await likeWith('mutual-2', { store: '../mutual-1' });
    expect(await verdicts(first)).toEqual({ openLabels: 'E_BOXES_FROM', verify: 'E_BOXES_FROM', loader: 'E_BOXES_FROM' });
    await expect(openLabels(first)).rejects.toMatchObject({ message: expect.stringMatching(/takes its boxes from it in turn \(a cycle\)/) });
    const chain = await likeWith('chain', { store: like, digest: await digestOf(like) });
    expect(await verdicts(chain)).toEqual({ openLabels: 'E_BOXES_FROM', verify: 'E_BOXES_FROM', loader: 'E_BOXES_FROM' });
    await expect(openLabels(chain)).rejects.toMatchObject({ message: expect.stringMatching(/is a boxes-from store too/) });
  });
});

describe("a boxes-from store's structure against its base's", () => {
  it('refuses at open a base with other epochs and crops whose digest was recomputed', async () => {
    const plain = join(work, 'plain');
    await make(plain, { epochs: 3, crops: 2, shardImages: 10 });
    const other = await likeWith('other-structure', { store: plain, digest: await digestOf(plain) });
    expect(await verdicts(other)).toEqual({ openLabels: 'E_BOXES_FROM', verify: 'E_BOXES_FROM', loader: 'E_BOXES_FROM' });
    await expect(openLabels(other)).rejects.toMatchObject({ message: expect.stringMatching(/sampler\.epochs: 2 here, 3 in the base; sampler\.crops: 3 here, 2 in the base/) });
  }, 60_000);

  it('refuses at open a base with too few epochs, before any epoch is served', async () => {
    const fewer = join(work, 'fewer');
    await make(fewer, { epochs: 1, crops: 3, shardImages: 10 });
    const short = await likeWith('short', { store: fewer, digest: await digestOf(fewer) });
    expect(await verdicts(short)).toEqual({ openLabels: 'E_BOXES_FROM', verify: 'E_BOXES_FROM', loader: 'E_BOXES_FROM' });
  }, 60_000);

  it('refuses a base whose records are shifted against the store’s (other shards)', async () => {
    const shifted = join(work, 'shifted');
    await make(shifted, { epochs: 2, crops: 3, shardImages: 11 });
    const off = await likeWith('off-by-one', { store: shifted, digest: await digestOf(shifted) });
    expect(await verdicts(off)).toEqual({ openLabels: 'E_BOXES_FROM', verify: 'E_BOXES_FROM', loader: 'E_BOXES_FROM' });
  }, 60_000);

  it('gives the loader’s verdict in verify when the base’s boxes leave the image', async () => {
    const v1Like = join(work, 'v1-like');
    // The hostile fixtures are format 1 stores, so the format 1 base is allowed here.
    await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_TFJS, out: v1Like, like: V1_STORE, topK: 2, threads: 1, allowFormat1: true });
    expect(await verdicts(v1Like, { allowFormat1: true })).toEqual({ openLabels: 'accepted', verify: 'accepted', loader: 'accepted' });
    const hostileBase = join(work, 'box-outside-image');
    await cp(BOX_OUTSIDE, hostileBase, { recursive: true });
    const outside = await likeWith('outside', { store: hostileBase, digest: cropsDigest((await openLabels(hostileBase, { allowFormat1: true })).manifest) }, v1Like);
    expect(await verdicts(outside, { allowFormat1: true })).toEqual({ openLabels: 'accepted', verify: 'E_CORRUPT_SHARD', loader: 'E_CORRUPT_SHARD' });
    // Without the opt-in, the format 1 base is refused like any format 1 store.
    expect(await verdicts(v1Like)).toEqual({ openLabels: 'E_FORMAT_1', verify: 'E_FORMAT_1', loader: 'E_FORMAT_1' });
  }, 60_000);
});
