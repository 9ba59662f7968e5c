import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layers of src/, bottom first, in the order the data flows. A module may import from its
 * own layer or from a lower layer, never from a higher one. A name is a folder (`store`), a
 * folder inside one (`store/format`), or a file directly in src/ by its base name (`errors`);
 * a file takes the layer of the longest name that contains it, so a sub-folder can sit lower than
 * the rest of its folder. A folder missing from this table fails the test, so every new folder
 * gets a place on purpose. README "Architecture" shows the same order.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors', 'io', 'pipeline', 'node-support', 'options', 'wasm-api'], // no fkd knowledge: the error type, atomic files and hashing, the ordered async window, supported Node versions, option fields and the memory budget, compiling committed WebAssembly
  ['dataset'], // ImageFolder scan, decoding (sharp, and the in-thread JPEG decoder), the RgbImage type
  ['crop'], // counter-based RNG, sampler, renderers, tensor layout
  ['render'], // render threads: decode and render crops on every core into shared rings, for the label pass and the loader
  ['tf'], // picks the TF.js runtime; used by the TF.js teacher and by training
  ['teacher'], // engines that run a model: onnx, tfjs
  ['labels', 'store/format'], // probabilities, top-k, the probability codec, dense targets; the label format's bytes (pure: bytes in, bytes out)
  ['storage'], // byte drivers (fs, s3, disk cache), their registry by URL scheme, claims, key checks: knows nothing of labels
  ['store'], // store layout, manifest, config and claim, reader (openLabels)
  ['webdataset'], // WebDataset shard sets: fkd pack, the shard index, opening a shard set as a Dataset (through the storage drivers)
  ['generate'], // the label pass and finalize: the store's writer
  ['check'], // info and verify: read a store, re-run the teacher on samples
  ['report'], // fkd report: statistics streamed from a store, SVG plots, the contact sheet, HTML
  ['loader'], // the student's stream of (crop, label) batches
  ['serve'], // fkd serve: loader batches into a shared-memory ring for another process (PyTorch)
  ['train'], // students, loss, training loop, distill
  ['measure'], // the measurements behind `fkd bench` (bench/ at the top level is the `npm run bench` harness that drives them)
  ['cli'], // one file per command
  ['index'], // the public surface
];

/**
 * Imports the layers allow but the design does not: a module under `from` (and not under
 * `unless`) never imports one under `never`, except the modules listed in `except`. Names are
 * matched as in LAYERS.
 */
interface Rule {
  from: string;
  unless?: string;
  never: string;
  except?: readonly string[];
  why: string;
}

const RULES: readonly Rule[] = [
  { from: 'storage', never: 'store', why: 'storage knows nothing of labels' },
  { from: 'store/format', never: 'storage', why: 'the label format takes and returns bytes; reading them is the store\'s job' },
  { from: 'measure', never: 'loader', except: ['loader/index.ts'], why: 'measure reaches the loader only through loader/index.ts, as users do' },
  { from: 'store', unless: 'store/writer', never: 'store/writer', why: 'the reader never needs the writer' },
];

/**
 * Folders that must never reach a teacher engine, directly or through anything they import:
 * the student side (`fkd/loader`, `fkd/train`), the store reader (`fkd/store`), the byte
 * drivers, the crops both sides share, and the report.
 */
const TEACHERLESS = ['crop', 'render', 'storage', 'store', 'loader', 'train', 'report'];

type Graph = ReadonlyMap<string, readonly string[]>;

/** True when `file` (a path relative to src/) is the module or lies in the folder `name` names. */
function within(file: string, name: string): boolean {
  return file === `${name}.ts` || file.startsWith(`${name}/`);
}

/** Problems in an import graph whose nodes are paths relative to src/ (`store/labels.ts`). */
function importProblems(graph: Graph, layers: readonly (readonly string[])[] = LAYERS, rules: readonly Rule[] = RULES): string[] {
  const problems: string[] = [];
  const rank = new Map<string, number>();
  layers.forEach((names, index) => names.forEach((name) => rank.set(name, index)));
  const part = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : file.replace(/\.ts$/, ''));
  // The longest layer name containing the file: `store/format/decode.ts` is in `store/format`, not `store`.
  const layerName = (file: string): string | undefined =>
    [...rank.keys()].filter((name) => within(file, name)).sort((a, b) => b.length - a.length)[0];

  for (const [from, targets] of graph) {
    const ownName = layerName(from);
    if (ownName === undefined) {
      problems.push(`${from}: "${part(from)}" has no layer; add it to LAYERS in test/architecture/imports.test.ts`);
      continue;
    }
    const own = rank.get(ownName)!;
    for (const to of targets) {
      const theirName = layerName(to);
      if (theirName !== undefined && rank.get(theirName)! > own) problems.push(`${from} imports ${to}: ${theirName} is above ${ownName}`);
      if (TEACHERLESS.includes(part(from)) && part(to) === 'teacher') problems.push(`${from} imports ${to}: ${part(from)}/ must never need a teacher`);
      for (const rule of rules) {
        const applies = within(from, rule.from) && (rule.unless === undefined || !within(from, rule.unless));
        if (applies && within(to, rule.never) && !(rule.except ?? []).includes(to)) problems.push(`${from} imports ${to}: ${rule.why}`);
      }
    }
  }

  for (const root of TEACHERLESS) {
    for (const start of [...graph.keys()].filter((file) => part(file) === root)) {
      const path = pathTo(graph, start, (file) => part(file) === 'teacher');
      if (path && path.length > 2) problems.push(`${start} reaches a teacher module: ${path.join(' → ')}`);
    }
  }

  for (const component of cycles(graph)) problems.push(`import cycle: ${cyclePath(graph, component).join(' → ')}`);
  return problems;
}

/** Shortest import path from `start` to a node matching `goal`, or null. */
function pathTo(graph: Graph, start: string, goal: (file: string) => boolean): string[] | null {
  const previous = new Map<string, string | null>([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (file !== start && goal(file)) {
      const path = [file];
      for (let step = previous.get(file); step; step = previous.get(step)) path.unshift(step);
      return path;
    }
    for (const next of graph.get(file) ?? []) {
      if (!previous.has(next)) {
        previous.set(next, file);
        queue.push(next);
      }
    }
  }
  return null;
}

/** One concrete loop through the first module of a strongly connected component, ending where it starts. */
function cyclePath(graph: Graph, component: readonly string[]): string[] {
  const first = component[0]!;
  const members = new Set(component);
  const inside: Graph = new Map(component.map((file) => [file, (graph.get(file) ?? []).filter((next) => members.has(next))]));
  if (inside.get(first)!.includes(first)) return [first, first];
  let best: string[] | null = null;
  for (const next of inside.get(first)!) {
    const back = next === first ? [first] : pathTo(inside, next, (file) => file === first);
    if (back && (!best || back.length + 1 < best.length)) best = [first, ...back];
  }
  return best ?? [...component, first];
}

/** The strongly connected components with more than one module, or a module importing itself (Tarjan). */
function cycles(graph: Graph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter);
    counter++;
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.unshift(member);
    } while (member !== file);
    if (component.length > 1 || (graph.get(file) ?? []).includes(file)) found.push(component);
  };
  for (const file of [...graph.keys()].sort()) if (!index.has(file)) visit(file);
  return found;
}

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const full = join(directory, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [full] : [];
  });
}

/**
 * The import graph of src/: every static, type-only, re-export and dynamic `import()` of
 * another src/ module. Type-only imports count: they are the dependencies the layers are about.
 */
function sourceGraph(): { graph: Map<string, string[]>; unresolved: string[] } {
  const graph = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file).split(sep).join('/');
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = new Set<string>();
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package
      const target = resolve(dirname(file), fileName.replace(/\.js$/, '.ts'));
      const inside = relative(SRC, target).split(sep).join('/');
      if (inside.startsWith('..')) continue; // package.json and other files outside src/
      if (!target.endsWith('.ts') || !statSafe(target)) {
        if (!statSafe(resolve(dirname(file), fileName))) unresolved.push(`${from} imports ${fileName}, which does not exist`);
        continue;
      }
      targets.add(inside);
    }
    graph.set(from, [...targets].sort());
  }
  return { graph, unresolved };
}

function statSafe(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

describe('the import graph of src/', () => {
  const { graph, unresolved } = sourceGraph();

  it('is read completely: many modules, every relative import resolved', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect([...graph.values()].flat().length).toBeGreaterThan(150);
    expect(unresolved).toEqual([]);
  });

  it('has no cycle, no import back up the layers, and no teacher reachable from crop, store, loader or train', () => {
    expect(importProblems(graph)).toEqual([]);
  });

  it('names real modules in every rule, so none passes by matching nothing', () => {
    const files = [...graph.keys()];
    for (const rule of RULES) {
      expect(files.some((file) => within(file, rule.from)), rule.from).toBe(true);
      expect(files.some((file) => within(file, rule.never)), rule.never).toBe(true);
      for (const allowed of rule.except ?? []) expect(graph.has(allowed), allowed).toBe(true);
    }
  });

  it('sees dynamic and type-only imports', () => {
    expect(graph.get('teacher/load.ts')).toContain('teacher/onnx.ts');
    expect(graph.get('crop/render.ts')).toContain('crop/tensor.ts');
  });
});

describe('importProblems', () => {
  const layers = [['errors'], ['crop'], ['teacher'], ['store'], ['loader']];

  it('reports a cycle, naming each module on it', () => {
    const graph = new Map([
      ['store/a.ts', ['store/b.ts']],
      ['store/b.ts', ['store/c.ts']],
      ['store/c.ts', ['store/a.ts']],
    ]);
    expect(importProblems(graph, layers)).toEqual(['import cycle: store/a.ts → store/b.ts → store/c.ts → store/a.ts']);
  });

  it('reports a module that imports itself', () => {
    expect(importProblems(new Map([['store/a.ts', ['store/a.ts']]]), layers)).toEqual(['import cycle: store/a.ts → store/a.ts']);
  });

  it('reports an import back up the layers, and allows imports down', () => {
    const graph = new Map([
      ['store/labels.ts', ['errors.ts', 'loader/loader.ts']],
      ['errors.ts', []],
      ['loader/loader.ts', ['store/labels.ts']],
    ]);
    expect(importProblems(graph, layers)).toEqual([
      'store/labels.ts imports loader/loader.ts: loader is above store',
      'import cycle: loader/loader.ts → store/labels.ts → loader/loader.ts',
    ]);
  });

  it('reports loader or crop reaching a teacher, directly or through the store', () => {
    const graph = new Map([
      ['crop/tensor.ts', ['teacher/engine.ts']],
      ['teacher/engine.ts', []],
      ['loader/loader.ts', ['store/manifest.ts']],
      ['store/manifest.ts', ['teacher/engine.ts']],
    ]);
    expect(importProblems(graph, layers)).toEqual([
      'crop/tensor.ts imports teacher/engine.ts: teacher is above crop',
      'crop/tensor.ts imports teacher/engine.ts: crop/ must never need a teacher',
      'store/manifest.ts imports teacher/engine.ts: store/ must never need a teacher',
      'loader/loader.ts reaches a teacher module: loader/loader.ts → store/manifest.ts → teacher/engine.ts',
    ]);
  });

  it('ranks a file by the longest layer name that contains it, so a sub-folder is held below its folder', () => {
    const graph = new Map([
      ['store/format/decode.ts', ['store/manifest.ts', 'labels/codec.ts']],
      ['store/manifest.ts', ['store/format/decode.ts']],
      ['labels/codec.ts', []],
    ]);
    expect(importProblems(graph, [['labels', 'store/format'], ['store']], [])).toEqual([
      'store/format/decode.ts imports store/manifest.ts: store is above store/format',
      'import cycle: store/format/decode.ts → store/manifest.ts → store/format/decode.ts',
    ]);
  });

  it('reports an import a rule forbids inside the layers, and allows the exceptions', () => {
    const graph = new Map([
      ['storage/open.ts', ['store/labels.ts']],
      ['store/labels.ts', ['storage/open.ts', 'store/writer/writer.ts']],
      ['store/format/encode.ts', ['storage/driver.ts']],
      ['storage/driver.ts', []],
      ['measure/loader.ts', ['loader/index.ts', 'loader/plan.ts']],
      ['loader/index.ts', ['loader/plan.ts']],
      ['loader/plan.ts', []],
      ['store/writer/writer.ts', ['store/writer/finalize.ts']],
      ['store/writer/finalize.ts', []],
    ]);
    const flat = [['storage', 'store', 'loader', 'measure']];
    expect(importProblems(graph, flat, RULES)).toEqual([
      'storage/open.ts imports store/labels.ts: storage knows nothing of labels',
      'store/labels.ts imports store/writer/writer.ts: the reader never needs the writer',
      "store/format/encode.ts imports storage/driver.ts: the label format takes and returns bytes; reading them is the store's job",
      'measure/loader.ts imports loader/plan.ts: measure reaches the loader only through loader/index.ts, as users do',
      'import cycle: storage/open.ts → store/labels.ts → storage/open.ts',
    ]);
  });

  it('reports a folder that has no layer', () => {
    expect(importProblems(new Map([['misc/thing.ts', []]]), layers)).toEqual(['misc/thing.ts: "misc" has no layer; add it to LAYERS in test/architecture/imports.test.ts']);
  });
});
