/**
 * The Kubernetes manifests in deploy/kubernetes cannot be applied here (no cluster), so this
 * checks what would break a real run: the Indexed Job's counts agree with --shards, credentials
 * come from a Secret and are never written in, and the GPU is requested.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSlice } from '../../src/generate/plan.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { parseYamlDocuments, type YamlValue } from './mini-yaml.js';

type Obj = { [key: string]: YamlValue };
const DIR = join(REPO_ROOT, 'deploy', 'kubernetes');

async function load(name: string): Promise<{ text: string; docs: Obj[] }> {
  const text = await readFile(join(DIR, name), 'utf8');
  return { text, docs: parseYamlDocuments(text) as Obj[] };
}

function at(value: YamlValue | undefined, ...path: Array<string | number>): YamlValue | undefined {
  let current = value;
  for (const step of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, YamlValue>)[step];
  }
  return current;
}

function container(job: Obj): Obj {
  const containers = at(job, 'spec', 'template', 'spec', 'containers') as Obj[];
  expect(containers).toHaveLength(1);
  return containers[0]!;
}

/** The value following `flag` in an argument list. */
function flagValue(args: string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index === -1 ? undefined : args[index + 1];
}

/** Secret-looking literals: AWS key ids, long base64/hex runs in `value:` fields. */
function literalCredentials(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g)) found.push(match[0]);
  for (const match of text.matchAll(/^\s*value:\s*["']?([A-Za-z0-9/+=]{30,})["']?\s*$/gm)) found.push(match[1]!);
  return found;
}

function checkCredentialEnv(job: Obj): void {
  const env = (container(job).env ?? []) as Obj[];
  const byName = new Map(env.map((entry) => [entry.name as string, entry]));
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_ENDPOINT_URL']) {
    const entry = byName.get(name);
    expect(entry, name).toBeDefined();
    expect(entry, `${name} must not be a literal`).not.toHaveProperty('value');
    expect(at(entry, 'valueFrom', 'secretKeyRef', 'name'), name).toEqual(expect.any(String));
    expect(at(entry, 'valueFrom', 'secretKeyRef', 'key'), name).toBe(name);
  }
  expect(at(byName.get('AWS_ENDPOINT_URL'), 'valueFrom', 'secretKeyRef', 'optional')).toBe(true);
  expect(byName.has('AWS_SESSION_TOKEN') ? byName.get('AWS_SESSION_TOKEN') : {}).not.toHaveProperty('value');
}

describe('mini YAML parser', () => {
  it('reads the constructs the manifests use, and refuses the ones it does not know', () => {
    const docs = parseYamlDocuments(
      [
        '# comment',
        'a: 1',
        'b: "two # not a comment"',
        'c:',
        '  - x',
        '  - key: v   # trailing comment',
        '    other: [1, "s3://b/p", --flag]',
        '  -',
        '    deep: {k: v, n: 2}',
        'd:',
        '- same-indent',
        "e: 'it''s'",
        'f: s3://bucket/prefix',
        'g: registry.example.com/fkd:gpu',
        '---',
        '- true',
        '- null',
      ].join('\n'),
    );
    expect(docs).toEqual([
      {
        a: 1,
        b: 'two # not a comment',
        c: ['x', { key: 'v', other: [1, 's3://b/p', '--flag'] }, { deep: { k: 'v', n: 2 } }],
        d: ['same-indent'],
        e: "it's",
        f: 's3://bucket/prefix',
        g: 'registry.example.com/fkd:gpu',
      },
      [true, null],
    ]);
    expect(() => parseYamlDocuments('a: |\n  text\n')).toThrow(/block scalars/);
    expect(() => parseYamlDocuments('a: &anchor 1\nb: *anchor\n')).toThrow(/anchors/);
    expect(() => parseYamlDocuments('a: 1\na: 2\n')).toThrow(/duplicate key/);
    expect(() => parseYamlDocuments('a:\n  b: 1\n c: 2\n')).toThrow(/indentation/);
  });
});

describe('deploy/kubernetes/label-job.yaml', () => {
  it('is an Indexed Job with completions = parallelism = --shards', async () => {
    const { docs } = await load('label-job.yaml');
    expect(docs).toHaveLength(1);
    const job = docs[0]!;
    expect(job).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job' });
    const spec = job.spec as Obj;
    expect(spec.completionMode).toBe('Indexed');
    const args = container(job).args as string[];
    expect(args[0]).toBe('label');
    const shards = Number(flagValue(args, '--shards'));
    expect(shards).toBeGreaterThan(1);
    expect(spec.completions).toBe(shards);
    expect(spec.parallelism).toBe(shards);
    // JOB_COMPLETION_INDEX supplies the index: no --shard in a template shared by every pod.
    expect(args).not.toContain('--shard');
    for (const index of [0, shards - 1]) {
      expect(parseSlice(undefined, { JOB_COMPLETION_INDEX: String(index) }, shards)).toEqual({ index, count: shards });
    }
    // Per-index retries need restartPolicy Never; no Job-wide backoffLimit to use up.
    expect(at(spec, 'template', 'spec', 'restartPolicy')).toBe('Never');
    expect(spec.backoffLimitPerIndex).toEqual(expect.any(Number));
    expect(spec).not.toHaveProperty('backoffLimit');
  });

  it('runs the documented label command on the GPU, with read-only data and teacher volumes', async () => {
    const { docs } = await load('label-job.yaml');
    const job = docs[0]!;
    const main = container(job);
    const args = main.args as string[];
    expect(flagValue(args, '--data')).toBe('/mnt/imagenet/train');
    expect(flagValue(args, '--teacher')).toBe('/models/teacher.onnx');
    expect(flagValue(args, '--out')).toMatch(/^s3:\/\/[a-z0-9.-]+\/.+/);
    expect(flagValue(args, '--device')).toBe('cuda');
    expect(main.image).toMatch(/:gpu$/);
    expect(at(main, 'resources', 'requests', 'nvidia.com/gpu')).toBe(1);
    expect(at(main, 'resources', 'limits', 'nvidia.com/gpu')).toBe(1);

    const mounts = main.volumeMounts as Obj[];
    const volumes = at(job, 'spec', 'template', 'spec', 'volumes') as Obj[];
    for (const path of [flagValue(args, '--data')!, flagValue(args, '--teacher')!]) {
      const mount = mounts.find((m) => path.startsWith(`${m.mountPath as string}/`));
      expect(mount, path).toBeDefined();
      expect(mount!.readOnly, path).toBe(true);
      const volume = volumes.find((v) => v.name === mount!.name);
      expect(at(volume, 'persistentVolumeClaim', 'readOnly'), path).toBe(true);
    }
  });

  it('takes S3 credentials from a Secret and contains none', async () => {
    const { text, docs } = await load('label-job.yaml');
    checkCredentialEnv(docs[0]!);
    expect(literalCredentials(text)).toEqual([]);
  });
});

describe('deploy/kubernetes/finalize-job.yaml', () => {
  it('finalizes the same store with the same worker count, credentials from the Secret', async () => {
    const [label, finalize] = await Promise.all([load('label-job.yaml'), load('finalize-job.yaml')]);
    const labelArgs = container(label.docs[0]!).args as string[];
    const job = finalize.docs[0]!;
    expect(job).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job' });
    const args = container(job).args as string[];
    expect(args.slice(0, 2)).toEqual(['finalize', flagValue(labelArgs, '--out')]);
    expect(flagValue(args, '--shards')).toBe(flagValue(labelArgs, '--shards'));
    expect(at(container(job), 'resources', 'requests', 'nvidia.com/gpu')).toBeUndefined();
    checkCredentialEnv(job);
    expect(literalCredentials(finalize.text)).toEqual([]);
  });
});

describe('the worker slice a pod gets from its environment', () => {
  it('reads JOB_COMPLETION_INDEX with --shards or FKD_SHARDS, and treats blank variables as unset', () => {
    expect(parseSlice(undefined, { JOB_COMPLETION_INDEX: '17' }, 64)).toEqual({ index: 17, count: 64 });
    expect(parseSlice(undefined, { JOB_COMPLETION_INDEX: '2', FKD_SHARDS: '3' })).toEqual({ index: 2, count: 3 });
    expect(parseSlice(undefined, { JOB_COMPLETION_INDEX: '', FKD_SHARDS: ' ' })).toEqual({ index: 0, count: 1 });
    expect(parseSlice('1/3', { JOB_COMPLETION_INDEX: '2', FKD_SHARDS: 'garbage' })).toEqual({ index: 1, count: 3 });
    expect(parseSlice('5/64', {}, 64)).toEqual({ index: 5, count: 64 });
  });

  it('refuses contradictions and malformed values with E_USAGE', () => {
    const usage = (run: () => unknown, message: RegExp) => expect(run).toThrow(expect.objectContaining({ code: 'E_USAGE', message: expect.stringMatching(message) }));
    usage(() => parseSlice('3/8', {}, 64), /--shard 3\/8 says 8 workers but --shards says 64/);
    usage(() => parseSlice(undefined, { JOB_COMPLETION_INDEX: '64' }, 64), /worker index in 0\.\.63/);
    // A count of 0 has no index range: no "0..-1".
    usage(() => parseSlice('1/0'), /^Expected a worker count in 1\.\.\d+ and a worker index below the count but received 1\/0\.$/);
    usage(() => parseSlice(undefined, { JOB_COMPLETION_INDEX: '3' }), /JOB_COMPLETION_INDEX=3 is set but the worker count is not/);
    usage(() => parseSlice(undefined, {}, 8), /--shards 8 needs a worker index/);
    usage(() => parseSlice(undefined, { JOB_COMPLETION_INDEX: '1', FKD_SHARDS: 'eight' }), /non-negative integer in FKD_SHARDS but received "eight"/);
    usage(() => parseSlice(undefined, { JOB_COMPLETION_INDEX: '-1' }, 8), /non-negative integer in JOB_COMPLETION_INDEX/);
  });
});
