/**
 * No Docker engine runs where fkd is developed or tested, so the Dockerfile is checked
 * statically: its stages and their base images, that every path it copies exists, that every
 * `npm run` script exists, and that every runtime stage starts the CLI.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  name: string;
  /** Base image with build arguments substituted. */
  from: string;
  instructions: Instruction[];
}

/** Joins continuation lines, drops comments and splits the file into stages. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = index + 1;
    if (line.startsWith('#')) return; // comment lines inside a continuation are dropped by Docker too
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const whole = pending + line;
    pending = '';
    const match = /^(\S+)\s*(.*)$/.exec(whole);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start });
  });
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!match) throw new Error(`Dockerfile line ${instruction.line}: cannot read FROM ${instruction.args}`);
      const from = match[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args.get((a ?? b)!) ?? '');
      stages.push({ name: match[2] ?? String(stages.length), from, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`Dockerfile line ${instruction.line}: ${instruction.keyword} before the first FROM`);
      const [name, value] = instruction.args.split('=', 2);
      args.set(name!, value ?? '');
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/** The exec-form JSON array of ENTRYPOINT/CMD, or the shell form as one string. */
function execForm(args: string): string[] {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : [args];
}

/** Last value of `ENV NAME=value` (or `ENV NAME value`) in a stage. */
function envOf(stage: Stage, name: string): string | undefined {
  let value: string | undefined;
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue;
    for (const match of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) if (match[1] === name) value = match[2]!.replace(/^"|"$/g, '');
    const spaced = /^(\w+)\s+([^=]+)$/.exec(args);
    if (spaced && spaced[1] === name) value = spaced[2]!.trim();
  }
  return value;
}

let stages: Stage[];
let scripts: Record<string, string>;
const stage = (name: string): Stage => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`Dockerfile has no stage named ${name}; it has ${stages.map((s) => s.name).join(', ')}`);
  return found;
};

beforeAll(async () => {
  ({ stages } = parseDockerfile(await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8')));
  ({ scripts } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> });
});

describe('Dockerfile', () => {
  it('has named build, gpu, gpu-tfjs and cpu stages, the CPU one last (the default target)', () => {
    expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(['build', 'gpu', 'gpu-tfjs', 'cpu']));
    expect(stages.at(-1)!.name).toBe('cpu');
    expect(stage('cpu').from).toMatch(/^node:24[.\w-]*$/);
    expect(stage('build').from).toMatch(/^node:24[.\w-]*$/);
  });

  it('gpu is CUDA 12 with cuDNN 9 and installs onnxruntime-node with its cuda12 provider', () => {
    const gpu = stage('gpu');
    // nvidia/cuda tags name cuDNN 9 as plain "cudnn" from CUDA 12.3 on ("cudnn8" before).
    const tag = /^nvidia\/cuda:12\.(\d+)\.\d+-cudnn(\d*)-runtime-/.exec(gpu.from);
    expect(tag, gpu.from).not.toBeNull();
    expect(tag![2] === '9' || (tag![2] === '' && Number(tag![1]) >= 3), `${gpu.from} must ship cuDNN 9`).toBe(true);
    expect(envOf(gpu, 'ONNXRUNTIME_NODE_INSTALL')).toBe('cuda12');
    const install = gpu.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm (ci|install)\b/.test(i.args));
    const setEnv = gpu.instructions.findIndex((i) => i.keyword === 'ENV' && /ONNXRUNTIME_NODE_INSTALL=cuda12/.test(i.args));
    expect(setEnv).toBeGreaterThanOrEqual(0);
    expect(setEnv, 'ONNXRUNTIME_NODE_INSTALL must be set before npm installs').toBeLessThan(install);
    // .npmrc says `skip`; copying it into this stage would fight the env var for no reason.
    expect(gpu.instructions.filter((i) => i.keyword === 'COPY' && /\.npmrc/.test(i.args))).toEqual([]);
  });

  it('gpu-tfjs is CUDA 11.2 with cuDNN 8.1 and keeps the optional tfjs-node-gpu', () => {
    const tfjs = stage('gpu-tfjs');
    expect(tfjs.from).toMatch(/^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-/);
    const install = tfjs.instructions.find((i) => i.keyword === 'RUN' && /\bnpm (ci|install)\b/.test(i.args));
    expect(install?.args).not.toMatch(/--omit=optional|--no-optional/);
  });

  it('runs only npm scripts that package.json defines', () => {
    const runs = stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'RUN').flatMap((i) => [...i.args.matchAll(/\bnpm run(?:-script)? ([\w:.-]+)/g)].map((m) => m[1]!)));
    expect(runs.length).toBeGreaterThan(0);
    for (const script of runs) expect(Object.keys(scripts), `npm run ${script}`).toContain(script);
  });

  it('copies only paths that exist in the repository or in an earlier stage', () => {
    let checked = 0;
    for (const [index, current] of stages.entries()) {
      for (const { keyword, args, line } of current.instructions) {
        if (keyword !== 'COPY' && keyword !== 'ADD') continue;
        const parts = args.split(/\s+/);
        const flags = parts.filter((p) => p.startsWith('--'));
        const paths = parts.filter((p) => !p.startsWith('--'));
        const sources = paths.slice(0, -1);
        expect(sources.length, `line ${line}`).toBeGreaterThan(0);
        const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
        if (from !== undefined) {
          expect(stages.slice(0, index).map((s) => s.name), `line ${line}: --from=${from} must name an earlier stage`).toContain(from);
          continue;
        }
        for (const source of sources) {
          expect(existsSync(join(REPO_ROOT, source)), `line ${line}: COPY ${source} does not exist in the repository`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('every runtime stage starts the CLI, bin/fkd.js, which imports the built dist/', async () => {
    expect(existsSync(join(REPO_ROOT, 'bin', 'fkd.js'))).toBe(true);
    const bin = await readFile(join(REPO_ROOT, 'bin', 'fkd.js'), 'utf8');
    const imported = /from '\.\.\/(dist\/[\w/.-]+\.js)'/.exec(bin)?.[1];
    expect(imported).toBeDefined();
    expect(existsSync(join(REPO_ROOT, 'src', imported!.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
    for (const name of ['cpu', 'gpu', 'gpu-tfjs']) {
      const runtime = stage(name);
      const entrypoints = runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT');
      expect(entrypoints, name).toHaveLength(1);
      const command = execForm(entrypoints[0]!.args);
      expect(command[0], `${name}: exec form with node`).toBe('node');
      const workdir = runtime.instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/';
      const script = command[1]!.startsWith('/') ? command[1]! : join(workdir, command[1]!);
      expect(script, name).toBe(join(workdir, 'bin/fkd.js'));
      // The stage holds what the CLI needs at that path: bin/ and dist/ from the build stage.
      const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
      expect(copies.some((c) => /^bin\s+\.\/bin$/.test(c) || /\sbin\s+\.?\/?(app\/)?bin\/?$/.test(c)), `${name} copies bin/`).toBe(true);
      expect(copies.some((c) => /--from=build\s+\/app\/dist\s+\.\/dist/.test(c)), `${name} copies dist/ from the build stage`).toBe(true);
      expect(runtime.instructions.some((i) => i.keyword === 'RUN' && /npm ci[^&|;]*--omit=dev/.test(i.args)), `${name} installs production dependencies only`).toBe(true);
    }
  });
});
