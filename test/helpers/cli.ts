import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURE_IMAGES = fileURLToPath(new URL('../../fixtures/images', import.meta.url));
export const FIXTURE_ONNX = fileURLToPath(new URL('../../fixtures/teacher/tiny.onnx', import.meta.url));
/** A teacher over 10 classes in which folder c is output [7, 2, 9, 4][c] (tiny.onnx's logits there). */
export const FIXTURE_SUPERSET = fileURLToPath(new URL('../../fixtures/teacher/superset.onnx', import.meta.url));
export const FIXTURE_SUPERSET_MAP = fileURLToPath(new URL('../../fixtures/teacher/superset-class-map.json', import.meta.url));
export const FIXTURE_TFJS = fileURLToPath(new URL('../../fixtures/teacher/tfjs-layers/model.json', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/fkd.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`npm test` builds first) as a user would, without a TTY. `node` holds flags for Node itself (`-r preload.cjs`). */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; node?: string[]; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.node ?? []), BIN, ...args], { cwd: options.cwd ?? REPO_ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Starts the CLI and returns the child, for tests that signal or kill it mid-run. */
export function startCli(args: string[], options: { env?: NodeJS.ProcessEnv } = {}) {
  return spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
