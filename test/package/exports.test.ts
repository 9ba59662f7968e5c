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

  it('fkd: the library, without the CLI or the probability encoder', async () => {
    const names = await exportedNames(pkg.name);
    expect(names).toEqual(expect.arrayContaining(['label', 'openLabels', 'createLoader', 'distill', 'loadTeacher', 'openStore', 'verifyStore']));
    for (const internal of ['main', 'encodeProbability', 'codecDescription']) expect(names).not.toContain(internal);
  });

  it('fkd/loader, fkd/store and fkd/train each give their part, and the root gives all of them', async () => {
    const root = new Set(await exportedNames(pkg.name));
    const parts: Record<string, string[]> = {
      loader: ['createLoader', 'denseTarget'],
      store: ['openLabels', 'openStore', 'registerStoreDriver', 'parseManifest', 'decodeProbabilities', 'decodeEpochBlock', 'MANIFEST_KEY'],
      train: ['trainStudent', 'softCrossEntropy', 'distill', 'loadTf', 'saveCheckpoint'],
    };
    for (const [part, expected] of Object.entries(parts)) {
      const names = await exportedNames(`${pkg.name}/${part}`);
      expect(names, part).toEqual(expect.arrayContaining(expected));
      expect(names.filter((name) => !root.has(name)), part).toEqual([]);
      expect(names, part).not.toContain('label'); // no subpath carries the label pass
    }
  });

  it('does not export the CLI or any other internal path', async () => {
    await expect(exportedNames(`${pkg.name}/dist/cli/main.js`)).rejects.toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});
