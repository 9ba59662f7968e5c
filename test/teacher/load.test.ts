import { cp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTeacher } from '../../src/teacher/load.js';
import { expectFkdError, fixture, pseudoRandomBatch, tinyOnnx, withTempDirectory } from './helpers.js';

describe('loadTeacher picks the engine from the file', () => {
  it.each([
    ['a .onnx file', 'tiny.onnx', 'onnx'],
    ['a model.json', 'tfjs-layers/model.json', 'tfjs'],
    ['a folder holding model.json', 'tfjs-graph', 'tfjs'],
  ] as const)('%s', async (_, name, engine) => {
    const teacher = await loadTeacher(fixture(name), { threads: 1 });
    try {
      expect(teacher.info.engine).toBe(engine);
      expect(teacher.info.numClasses).toBe(4);
    } finally {
      await teacher.dispose();
    }
  });

  it('recognises ONNX content under another name', async () => {
    await withTempDirectory(async (directory) => {
      const file = join(directory, 'teacher.model');
      await cp(fixture('tiny.onnx'), file);
      const teacher = await loadTeacher(file, { threads: 1 });
      expect(teacher.info.engine).toBe('onnx');
      await teacher.dispose();
    });
  });
});

describe('loadTeacher refuses what it cannot run, naming the file', () => {
  const inTemp = (name: string, content: Uint8Array | string, check: (file: string) => Promise<unknown>) =>
    withTempDirectory(async (directory) => {
      const file = join(directory, name);
      await writeFile(file, content);
      await check(file);
    });

  it('a missing file', async () => {
    await expectFkdError(loadTeacher('/no/such/teacher.onnx'), 'E_MODEL_LOAD', /\/no\/such\/teacher\.onnx does not exist\. Pass a \.onnx file/);
  });

  it('an empty file', () => inTemp('empty.onnx', '', (file) => expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', `${file} is empty`)));

  it('a JPEG named .onnx', async () => {
    const jpeg = await readFile(new URL('../../fixtures/images/class-c-blue/img-0.jpg', import.meta.url));
    await inTemp('photo.onnx', jpeg, (file) => expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', `${file} is a JPEG image`));
  });

  it('random bytes named .onnx', () => inTemp('noise.onnx', randomBytes(4096, 0xff), (file) => expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', `${file} is not an ONNX model`)));

  it('random bytes that pass the first-byte sniff, left to onnxruntime to reject', () =>
    inTemp('noise.onnx', randomBytes(4096, 0x08), (file) => expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', `Cannot load ONNX teacher ${file}`)));

  it('a truncated ONNX model', async () => {
    const bytes = await readFile(fixture('tiny.onnx'));
    await inTemp('cut.onnx', bytes.subarray(0, bytes.length / 2), (file) => expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', file));
  });

  it('a PyTorch checkpoint', () =>
    inTemp('resnet.pth', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]), (file) => expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', /PyTorch checkpoint.*torch\.onnx\.export/)));

  it('a file in neither format', () => inTemp('notes.txt', 'just some text', (file) => expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', `${file} is neither an ONNX model nor a TF.js model.json`)));

  it('a folder without model.json', () =>
    withTempDirectory((directory) => expectFkdError(loadTeacher(directory), 'E_MODEL_LOAD', `Teacher folder ${directory} has no model.json`)));

  it('a model.json that is not JSON', () => inTemp('model.json', '{ nope', (file) => expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', `${file} is not a TF.js model.json: it is not valid JSON`)));

  it('a model.json that is not a TF.js model', () =>
    inTemp('model.json', JSON.stringify({ name: 'package', version: '1.0.0' }), (file) => expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', `${file} is not a TF.js model.json: it has no modelTopology`)));

  it('a model.json whose weights point outside its folder by URL', () =>
    inTemp('model.json', JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [{ paths: ['https://example.com/w.bin'], weights: [] }] }), (file) =>
      expectFkdError(loadTeacher(file), 'E_MODEL_LOAD', /is not a file name relative to model\.json/),
    ));

  it('a missing weight shard', () =>
    withTempDirectory(async (directory) => {
      const copy = join(directory, 'layers');
      await cp(fixture('tfjs-layers'), copy, { recursive: true });
      const shard = join(copy, 'group1-shard1of1.bin');
      await rm(shard);
      await expectFkdError(loadTeacher(copy), 'E_MODEL_LOAD', `Weight file ${shard} listed in ${join(copy, 'model.json')} is missing`);
    }));

  it('a truncated weight shard', () =>
    withTempDirectory(async (directory) => {
      const copy = join(directory, 'graph');
      await cp(fixture('tfjs-graph'), copy, { recursive: true });
      await truncate(join(copy, 'group1-shard1of1.bin'), 100);
      await expectFkdError(loadTeacher(copy), 'E_MODEL_LOAD', /hold 100 bytes but its weightsManifest describes \d+/);
    }));

  it('an input that is not an image batch (E_MODEL_SHAPE)', () => inTemp('flat.onnx', tinyOnnx(['batch', 12]), (file) => expectFkdError(loadTeacher(file), 'E_MODEL_SHAPE', file)));

  it('bad options, before touching the file (E_USAGE)', async () => {
    await expectFkdError(loadTeacher('/no/such/file.onnx', { threads: 0 }), 'E_USAGE', 'Expected positive integer for threads but received 0');
    await expectFkdError(loadTeacher('/no/such/file.onnx', { size: 1.5 }), 'E_USAGE', 'size');
  });

  it('a folder with no model in it (E_MODEL_LOAD)', async () => {
    // Permission errors cannot be provoked as root (CI runs as root), so the unreadable case
    // is covered by a path that exists but holds no model.
    await withTempDirectory(async (directory) => {
      const empty = join(directory, 'empty');
      await mkdir(empty);
      await expectFkdError(loadTeacher(empty), 'E_MODEL_LOAD', empty);
    });
  });
});

/** Reproducible noise whose first byte is `first`. */
function randomBytes(length: number, first: number): Uint8Array {
  const bytes = new Uint8Array(pseudoRandomBatch(length / 4, 99).buffer);
  bytes[0] = first;
  return bytes;
}
