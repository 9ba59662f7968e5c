import { copyFile, mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FIXTURE_IMAGES, FIXTURE_ONNX, runCli } from '../helpers/cli.js';

// Any attempt to load or build a teacher at training time fails the test loudly.
const constructed = vi.hoisted(() => ({ count: 0 }));
vi.mock('../../src/teacher/load.js', () => ({
  loadTeacher: () => {
    constructed.count++;
    throw new Error('the teacher was loaded at training time');
  },
}));
vi.mock('../../src/teacher/onnx.js', () => {
  constructed.count++;
  throw new Error('the ONNX engine was imported at training time');
});
vi.mock('../../src/teacher/tfjs.js', () => {
  constructed.count++;
  throw new Error('the TF.js engine was imported at training time');
});

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
let work: string;
let store: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fkd-noteacher-'));
  const teacher = join(work, 'teacher.onnx');
  await copyFile(FIXTURE_ONNX, teacher);
  store = join(work, 'labels');
  const result = await runCli(['label', '--data', FIXTURE_IMAGES, '--teacher', teacher, '--out', store, '--epochs', '2', '--crops', '2', '--top-k', '2', '--threads', '1']);
  expect(result.code, result.stderr).toBe(0);
  await unlink(teacher);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every module a source file reaches through value imports (type-only imports are erased). */
async function reachable(entry: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = await readFile(file, 'utf8');
    const imports = [...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'/gms), ...text.matchAll(/import\('(\.[^']+)'\)/g)];
    for (const match of imports) await visit(resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')));
  };
  await visit(entry);
  return seen;
}

describe('training without the teacher', () => {
  it('the loader and the training loop never import a teacher engine', async () => {
    for (const entry of ['loader/loader.ts', 'train/distill.ts', 'cli/train.ts']) {
      const modules = [...(await reachable(join(SRC, entry)))].map((m) => m.slice(SRC.length));
      expect(modules.filter((m) => m.startsWith('teacher/')), entry).toEqual([]);
      expect(modules.length).toBeGreaterThan(3);
    }
  });

  it('trains a student with the teacher file deleted and every engine booby-trapped', async () => {
    const { distill } = await import('../../src/train/distill.js');
    const losses: number[] = [];
    const result = await distill({ data: FIXTURE_IMAGES, labels: store, epochs: 2, student: 'tiny', size: 16, batchSize: 16, learningRate: 0.01, loader: { workers: 0 }, onStep: (s) => losses.push(s.loss) });
    expect(result.history).toHaveLength(2);
    expect(result.history.every((line) => Number.isFinite(line.loss) && line.samples === 48)).toBe(true);
    expect(constructed.count).toBe(0);
  });
});
