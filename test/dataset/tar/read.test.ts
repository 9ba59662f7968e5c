import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TarError, type TarRule } from '../../../src/dataset/tar/error.js';
import { tarMembers } from '../../../src/dataset/tar/read.js';
import { tarSamples } from '../../../src/dataset/tar/samples.js';
import { TAR_END, tarHeader, tarPadding } from '../../../src/dataset/tar/write.js';
import { concat, END, header, member, memorySource, paxRecords } from '../../helpers/tar.js';

const LIMITS = { maxMemberBytes: 1 << 20 };
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function members(bytes: Uint8Array, limits = LIMITS) {
  const source = memorySource(bytes);
  const found = [];
  for await (const m of tarMembers(source, 'shard.tar', limits)) found.push({ ...m, data: text(await source.read(m.offset, m.size)) });
  return found;
}

async function samples(bytes: Uint8Array) {
  const found = [];
  for await (const sample of tarSamples(memorySource(bytes), 'shard.tar', LIMITS)) found.push(sample);
  return found;
}

/** The TarError reading `bytes` throws (members, or samples with `grouped`); fails the test if there is none. */
async function refusal(bytes: Uint8Array, options: { grouped?: boolean; limits?: typeof LIMITS } = {}): Promise<TarError> {
  try {
    if (options.grouped) await samples(bytes);
    else await members(bytes, options.limits);
  } catch (error) {
    expect(error).toBeInstanceOf(TarError);
    return error as TarError;
  }
  throw new Error('expected a TarError, but the archive was accepted');
}

async function expectRule(bytes: Uint8Array, rule: TarRule, member: string, options: { grouped?: boolean; limits?: typeof LIMITS } = {}): Promise<void> {
  const error = await refusal(bytes, options);
  expect(error.code).toBe('E_BAD_TAR');
  expect(error.rule).toBe(rule);
  expect(error.shard).toBe('shard.tar');
  expect(error.member).toBe(member);
  expect(error.message).toContain('shard.tar');
  expect(error.message).toContain(member);
  expect(error.message).toContain(`rule ${rule}`);
}

describe('tarMembers: well-formed archives', () => {
  it('reads ustar members with the name prefix, skipping directories', async () => {
    const bytes = concat([header({ name: 'a/', type: '5' }), member('b.jpg', 'pic', { prefix: 'a/deep' }), member('./c.cls', '3'), END]);
    expect(await members(bytes)).toEqual([
      { name: 'a/deep/b.jpg', offset: 1024, size: 3, data: 'pic' },
      { name: 'c.cls', offset: 2048, size: 1, data: '3' },
    ]);
  });

  it('applies a GNU long name (L) and passes over a long link name (K)', async () => {
    const long = `${'d/'.repeat(80)}x.jpg`;
    const bytes = concat([member('././@LongLink', `${long}\0`, { type: 'L', magic: 'gnu' }), member('././@LongLink', 'target\0', { type: 'K', magic: 'gnu' }), member(long.slice(0, 100), 'pic', { magic: 'gnu' }), END]);
    expect((await members(bytes)).map((m) => [m.name, m.data])).toEqual([[long, 'pic']]);
  });

  it('applies pax path and size records, and checks global ones', async () => {
    const long = `${'p/'.repeat(70)}y.png`;
    const data = 'x'.repeat(700);
    // The header's own size field says 5; the pax record's 700 is the one that counts.
    const bytes = concat([member('g', paxRecords({ comment: 'hello' }), { type: 'g' }), member('h', paxRecords({ path: long, size: '700', mtime: '1.5' }), { type: 'x' }), header({ name: 'short.png', size: 5 }), new TextEncoder().encode(data), new Uint8Array(324), END]);
    expect((await members(bytes)).map((m) => [m.name, m.size, m.data])).toEqual([[long, 700, data]]);
  });

  it('reads what GNU tar writes in gnu, pax and ustar formats, long names included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fkd-tar-'));
    try {
      const long = `${'long-folder-name/'.repeat(8)}n01440764_10026.jpg`;
      mkdirSync(join(dir, 'src', ...long.split('/').slice(0, -1)), { recursive: true });
      writeFileSync(join(dir, 'src', long), 'jpeg bytes');
      writeFileSync(join(dir, 'src', 'a.cls'), '7');
      for (const format of ['gnu', 'pax', 'ustar']) {
        const file = join(dir, `${format}.tar`);
        execFileSync('tar', [`--format=${format}`, '--sort=name', '-cf', file, '-C', join(dir, 'src'), 'a.cls', long]);
        const found = await members(new Uint8Array(readFileSync(file)));
        expect(found.map((m) => [m.name, m.data]), format).toEqual([['a.cls', '7'], [long, 'jpeg bytes']]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads back what its own writer wrote, and GNU tar lists it', async () => {
    const data = new TextEncoder().encode('image');
    const bytes = concat([tarHeader('000000000.jpg', data.length), data, tarPadding(data.length), TAR_END]);
    expect((await members(bytes)).map((m) => [m.name, m.data])).toEqual([['000000000.jpg', 'image']]);
    const dir = mkdtempSync(join(tmpdir(), 'fkd-tar-'));
    try {
      writeFileSync(join(dir, 'x.tar'), bytes);
      expect(execFileSync('tar', ['-tvf', join(dir, 'x.tar')]).toString()).toMatch(/-rw-r--r-- 0\/0 +5 1970-01-01 00:00 000000000\.jpg/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads headers only: member data is left unread', async () => {
    const big = new Uint8Array(100_000);
    const source = memorySource(concat([member('a.jpg', big), member('b.jpg', big), END]));
    const names = [];
    for await (const m of tarMembers(source, 'shard.tar', LIMITS)) names.push(m.name);
    expect(names).toEqual(['a.jpg', 'b.jpg']);
    expect(source.readBytes).toBe(4 * 512);
  });
});

describe('tarSamples', () => {
  it('groups members by key and reads the class', async () => {
    const bytes = concat([member('dir/000.jpg', 'A'), member('dir/000.cls', '2\n'), member('dir/001.webp', 'B'), member('dir/001.json', '{}'), END]);
    expect((await samples(bytes)).map((s) => [s.key, s.image.name, s.classIndex])).toEqual([
      ['dir/000', 'dir/000.jpg', 2],
      ['dir/001', 'dir/001.webp', undefined],
    ]);
  });
});

describe('hostile tars: each refused with the shard, the member and the rule', () => {
  it('truncated inside a header', async () => {
    await expectRule(member('a.jpg', 'pic').subarray(0, 300), 'truncated', 'at byte 0');
  });

  it('truncated inside a member\'s data', async () => {
    const whole = member('a.jpg', 'x'.repeat(600));
    await expectRule(whole.subarray(0, 512 + 600), 'truncated', '"a.jpg"');
  });

  it('truncated at a block boundary, with no end-of-archive marker', async () => {
    await expectRule(concat([member('a.jpg', 'pic'), member('b.jpg', 'pic')]), 'truncated', 'at byte 2048');
  });

  it('an end-of-archive marker of one zero block', async () => {
    await expectRule(concat([member('a.jpg', 'pic'), new Uint8Array(512)]), 'truncated', 'at byte 1024');
  });

  it('a size field larger than the file', async () => {
    await expectRule(concat([header({ name: 'a.jpg', size: 50_000 }), new Uint8Array(1024)]), 'size-beyond-file', '"a.jpg"');
  });

  it('a member of absurd size, refused before anything is allocated or read', async () => {
    const huge = new Uint8Array(12);
    huge[0] = 0x80;
    huge[5] = 0x01; // base-256: 2^48 bytes
    const bytes = concat([header({ name: 'a.jpg', sizeField: huge }), END]);
    const source = memorySource(bytes);
    const walk = async () => {
      for await (const found of tarMembers(source, 'shard.tar', LIMITS)) expect.unreachable(`accepted ${found.name}`);
    };
    const error = await walk().then(() => null, (thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(TarError);
    expect((error as TarError).rule).toBe('member-too-large');
    expect((error as TarError).member).toBe('"a.jpg"');
    expect((error as TarError).message).toContain(String(2 ** 48));
    // The header only: nothing of the claimed size was read.
    expect(source.readBytes).toBe(512);
  });

  it('a member over the configured cap, even though the file holds it', async () => {
    await expectRule(concat([member('a.jpg', new Uint8Array(5000)), END]), 'member-too-large', '"a.jpg"', { limits: { maxMemberBytes: 4096 } });
  });

  it('a pax size record of absurd size', async () => {
    await expectRule(concat([member('h', paxRecords({ size: '99999999999999' }), { type: 'x' }), header({ name: 'a.jpg', size: 1 }), new Uint8Array(512), END]), 'member-too-large', '"a.jpg"');
  });

  it('a bad header checksum', async () => {
    await expectRule(concat([header({ name: 'a.jpg', checksumError: 1 }), END]), 'bad-checksum', 'at byte 0');
  });

  it('a size field that is not octal', async () => {
    await expectRule(concat([header({ name: 'a.jpg', sizeField: new TextEncoder().encode('00000000009\0') }), END]), 'bad-number', 'at byte 0');
  });

  it('a name with a ".." segment', async () => {
    await expectRule(concat([member('a/../../etc/x.jpg', 'pic'), END]), 'parent-name', '"a/../../etc/x.jpg"');
  });

  it('a ".." hidden in a GNU long name', async () => {
    await expectRule(concat([member('././@LongLink', `${'a/'.repeat(60)}../../x.jpg\0`, { type: 'L', magic: 'gnu' }), member('x.jpg', 'pic', { magic: 'gnu' }), END]), 'parent-name', `"${'a/'.repeat(60)}../../x.jpg"`);
  });

  it('an absolute name', async () => {
    await expectRule(concat([member('/etc/x.jpg', 'pic'), END]), 'absolute-name', '"/etc/x.jpg"');
  });

  it('an absolute pax path', async () => {
    await expectRule(concat([member('h', paxRecords({ path: '/etc/passwd.jpg' }), { type: 'x' }), member('ok.jpg', 'pic'), END]), 'absolute-name', '"/etc/passwd.jpg"');
  });

  it('a NUL byte inside a header name field', async () => {
    const name = new Uint8Array([...new TextEncoder().encode('a.jpg'), 0, ...new TextEncoder().encode('.cls')]);
    await expectRule(concat([member(name, 'pic'), END]), 'nul-in-name', 'at byte 0');
  });

  it('a NUL byte inside a GNU long name', async () => {
    await expectRule(concat([member('././@LongLink', 'a.jpg\0b.jpg\0', { type: 'L', magic: 'gnu' }), member('x.jpg', 'pic', { magic: 'gnu' }), END]), 'nul-in-name', 'at byte 0');
  });

  it('a NUL byte inside a pax path', async () => {
    await expectRule(concat([member('h', paxRecords({ path: 'a.jpg\0b' }), { type: 'x' }), member('x.jpg', 'pic'), END]), 'nul-in-name', '"a.jpg\\u0000b"');
  });

  it('a name that is not UTF-8', async () => {
    await expectRule(concat([member(new Uint8Array([0x61, 0xff, 0x2e, 0x6a]), 'pic'), END]), 'bad-name', 'at byte 0');
  });

  it('a pax record whose length points past its header', async () => {
    await expectRule(concat([member('h', '99 path=a.jpg\n', { type: 'x' }), member('x.jpg', 'pic'), END]), 'bad-pax', 'at byte 0');
  });

  it('a symlink member', async () => {
    await expectRule(concat([header({ name: 'a.jpg', type: '2' }), END]), 'unsupported-type', '"a.jpg"');
  });

  it('a duplicate key: the same key again after another key', async () => {
    await expectRule(concat([member('a.jpg', 'A'), member('b.jpg', 'B'), member('a.cls', '1'), END]), 'duplicate-key', '"a.cls"', { grouped: true });
  });

  it('a duplicate key: the same member twice in a sample', async () => {
    await expectRule(concat([member('a.jpg', 'A'), member('a.jpg', 'B'), END]), 'duplicate-key', '"a.jpg"', { grouped: true });
  });

  it('a sample without an image', async () => {
    await expectRule(concat([member('a.jpg', 'A'), member('b.cls', '1'), member('b.json', '{}'), END]), 'no-image', '"b"', { grouped: true });
  });

  it('a sample with two images', async () => {
    await expectRule(concat([member('a.jpg', 'A'), member('a.png', 'B'), END]), 'two-images', '"a"', { grouped: true });
  });

  it('a member without an extension', async () => {
    await expectRule(concat([member('dir/README', 'A'), END]), 'no-extension', '"dir/README"', { grouped: true });
  });

  it('a cls member that is not a class index', async () => {
    await expectRule(concat([member('a.jpg', 'A'), member('a.cls', 'cat'), END]), 'bad-class', '"a.cls"', { grouped: true });
  });
});
