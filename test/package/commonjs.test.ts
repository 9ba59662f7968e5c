/**
 * CommonJS consumers: `require('fkd')` resolves through the exports map's `default` condition
 * and loads the ES module (require(esm), on by default from Node 20.19 and 22.12), instead of
 * failing with ERR_PACKAGE_PATH_NOT_EXPORTED. Runs a real CommonJS file from a project that has
 * fkd in its node_modules (`npm test` builds dist/ first).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';

const run = promisify(execFile);
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const REQUIRE_ESM = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);

describe('require("fkd") from CommonJS', () => {
  let project: string;

  beforeAll(async () => {
    project = await mkdtemp(join(tmpdir(), 'fkd-cjs-'));
    await mkdir(join(project, 'node_modules'));
    await symlink(REPO_ROOT, join(project, 'node_modules', 'fkd'), 'dir');
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', type: 'commonjs' }));
    await writeFile(
      join(project, 'use.js'),
      "const fkd = require('fkd');\nconsole.log(JSON.stringify({ openLabels: typeof fkd.openLabels, writeReport: typeof fkd.writeReport, code: new fkd.FkdError('E_USAGE', 'x').code }));\n",
    );
  });

  afterAll(async () => {
    if (project) await rm(project, { recursive: true, force: true });
  });

  it.runIf(REQUIRE_ESM)('gets the same API as import', async () => {
    const { stdout, stderr } = await run(process.execPath, ['use.js'], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({ openLabels: 'function', writeReport: 'function', code: 'E_USAGE' });
    expect(stderr).not.toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it.runIf(!REQUIRE_ESM)('on a Node without require(esm), fails with a message that says to import() it', async () => {
    const failure = await run(process.execPath, ['use.js'], { cwd: project }).then(() => null, (error: unknown) => error as { stderr: string });
    expect(failure?.stderr).toMatch(/ERR_REQUIRE_ESM|import\(\)/);
    expect(failure?.stderr).not.toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});
