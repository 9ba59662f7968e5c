import { createHash } from 'node:crypto';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprintTeacher } from '../../src/teacher/fingerprint.js';
import { expectFkdError, fixture, withTempDirectory } from './helpers.js';

async function flipByte(file: string, index: number): Promise<void> {
  const bytes = await readFile(file);
  bytes[index] = bytes[index]! ^ 0x01;
  await writeFile(file, bytes);
}

describe('fingerprintTeacher', () => {
  it('hashes an ONNX model as its file alone, like sha256sum', async () => {
    const file = fixture('tiny.onnx');
    const expected = createHash('sha256').update(await readFile(file)).digest('hex');
    expect(await fingerprintTeacher(file)).toEqual({ sha256: expected, files: [file] });
  });

  it('changes when one ONNX byte changes', () =>
    withTempDirectory(async (directory) => {
      const file = join(directory, 'tiny.onnx');
      await cp(fixture('tiny.onnx'), file);
      const before = await fingerprintTeacher(file);
      await flipByte(file, 4000);
      expect((await fingerprintTeacher(file)).sha256).not.toBe(before.sha256);
    }));

  it('covers model.json and every weight shard of a TF.js model, whichever path names it', () =>
    withTempDirectory(async (directory) => {
      const copy = join(directory, 'layers');
      await cp(fixture('tfjs-layers'), copy, { recursive: true });
      const shard = join(copy, 'group1-shard1of1.bin');
      const before = await fingerprintTeacher(copy);
      expect(before.files).toEqual([join(copy, 'model.json'), shard]);
      expect((await fingerprintTeacher(join(copy, 'model.json'))).sha256).toBe(before.sha256);
      // Same bytes as the fixture, so the same identity.
      expect((await fingerprintTeacher(fixture('tfjs-layers'))).sha256).toBe(before.sha256);

      await flipByte(shard, 1234);
      const afterWeight = await fingerprintTeacher(copy);
      expect(afterWeight.sha256).not.toBe(before.sha256);

      await flipByte(shard, 1234);
      expect((await fingerprintTeacher(copy)).sha256).toBe(before.sha256);
      const json = join(copy, 'model.json');
      await writeFile(json, (await readFile(json, 'utf8')).replace('tiny_teacher', 'tiny_teachex'));
      expect((await fingerprintTeacher(copy)).sha256).not.toBe(before.sha256);
    }));

  it('fails with E_MODEL_LOAD on a missing shard or file', async () => {
    await withTempDirectory(async (directory) => {
      const copy = join(directory, 'graph');
      await cp(fixture('tfjs-graph'), copy, { recursive: true });
      await rm(join(copy, 'group1-shard1of1.bin'));
      await expectFkdError(fingerprintTeacher(copy), 'E_MODEL_LOAD', 'group1-shard1of1.bin listed in');
    });
    await expectFkdError(fingerprintTeacher('/no/such/model.onnx'), 'E_MODEL_LOAD', '/no/such/model.onnx does not exist');
  });
});
