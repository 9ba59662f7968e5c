import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, { types?: string; import?: string } | string> };

/** What Node itself resolves for `specifier` from inside the package (self-reference through `exports`, on the built dist/). */
async function exportedNames(specifier: string): Promise<string[]> {
  const script = `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m).sort()));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
}

describe('the built package exports', () => {
  it('maps ".", "./loader", "./store" and "./train" to built files, each with its types', () => {
    expect(Object.keys(pkg.exports).sort()).toEqual(['.', './loader', './package.json', './store', './train']);
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (subpath === './package.json') continue;
      const { types, import: entry } = target as { types: string; import: string };
      expect(existsSync(join(REPO_ROOT, entry)), entry).toBe(true);
      expect(existsSync(join(REPO_ROOT, types)), types).toBe(true);
    }
  });

  // Every runtime export of every subpath, sorted: adding or removing one is a visible decision here.
  const EXPORTS: Record<string, string[]> = {
    fkd: [
      'CONFIG_KEY', 'CachedStore', 'DEFAULT_MAX_PIXELS', 'DEFAULT_SHEET_CROPS', 'EnsembleLabels', 'FkdError',
      'FsStore', 'LabelSet', 'MANIFEST_KEY', 'MAX_SHEET_CROPS', 'MODEL_FILE', 'PACK_DEFAULTS', 'PACK_SCHEMA',
      'SHARD_INDEX_KEY', 'STATE_FILE', 'STUDENT_NAMES', 'SUPPORTED_NODE_MAJORS', 'TARGET_CODECS',
      'TARGET_MODES', 'TarError', 'WEIGHTS_FILE', 'assembleManifest', 'batchToTensors', 'checkClassCount',
      'cloneBatch', 'collectReport', 'createLoader', 'createStudent', 'decodeEpochBlock', 'decodeImage',
      'decodeImageBlock', 'decodeProbabilities', 'decodeProbability', 'decodeShard', 'defaultSamplerOptions',
      'denseTarget', 'describeTeacher', 'distill', 'endOfLifeNotice', 'epochOrder', 'finalizeStore',
      'fingerprintOf', 'fingerprintTeacher', 'imagenetNormalization', 'isFkdError', 'isShardSetSpec', 'label',
      'loadCheckpoint', 'loadTeacher', 'loadTf', 'openDataset', 'openEnsemble', 'openLabels', 'openShardSet',
      'openStore', 'pack', 'parseManifest', 'parseShardIndex', 'parseSlice', 'planEpoch', 'presentImages',
      'registerStoreDriver', 'renderContactSheet', 'renderCrop', 'renderNormalized', 'rendererBackend',
      'reportHtml', 'sampleCrop', 'saveCheckpoint', 'scanDataset', 'shardEntryKey', 'shardKey',
      'sharedRenderPool', 'softCrossEntropy', 'storeInfo', 'tarMembers', 'tarSamples', 'targetCodec',
      'toProbabilities', 'toTfDataset', 'topK', 'trainStudent', 'transformRandom', 'verifyStore',
      'writeNormalized', 'writeReport',
    ],
    'fkd/loader': [
      'cloneBatch', 'createLoader', 'denseTarget', 'epochOrder', 'planEpoch', 'sharedRenderPool',
      'transformRandom',
    ],
    'fkd/store': [
      'CONFIG_KEY', 'CachedStore', 'EnsembleLabels', 'FsStore', 'LabelSet', 'MANIFEST_KEY',
      'assembleManifest', 'decodeEpochBlock', 'decodeImageBlock', 'decodeProbabilities', 'decodeProbability',
      'decodeShard', 'openEnsemble', 'openLabels', 'openStore', 'parseManifest', 'presentImages',
      'registerStoreDriver', 'shardEntryKey', 'shardKey',
    ],
    'fkd/train': [
      'MODEL_FILE', 'STATE_FILE', 'STUDENT_NAMES', 'WEIGHTS_FILE', 'batchToTensors', 'createStudent',
      'distill', 'loadCheckpoint', 'loadTf', 'saveCheckpoint', 'softCrossEntropy', 'toTfDataset',
      'trainStudent',
    ],
  };

  it.each(Object.entries(EXPORTS))('%s exports exactly its listed names', async (specifier, expected) => {
    expect(await exportedNames(specifier)).toEqual(expected);
  });

  it('fkd: the library, without the CLI or the probability encoder', async () => {
    const names = await exportedNames(pkg.name);
    for (const internal of ['main', 'encodeProbability', 'codecDescription', 'LabelStoreWriter']) expect(names).not.toContain(internal);
  });

  it('fkd/loader, fkd/store and fkd/train are parts of the root, none carrying the label pass', () => {
    const root = new Set(EXPORTS['fkd']);
    for (const part of ['fkd/loader', 'fkd/store', 'fkd/train']) {
      expect(EXPORTS[part]!.filter((name) => !root.has(name)), part).toEqual([]);
      expect(EXPORTS[part], part).not.toContain('label');
    }
  });

  it('does not export the CLI or any other internal path', async () => {
    await expect(exportedNames(`${pkg.name}/dist/cli/main.js`)).rejects.toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});
