import { FkdError } from '../errors.js';
import type { Slice } from '../store/shards.js';
import { integer, integerFromText } from '../options/schema.js';

/** Most workers of one sharded run; a shard needs at least one image, so more would idle. */
export const MAX_SLICES = 100_000;

export const SHARDS_FIELD = integer({ flag: '--shards', summary: 'worker count of a sharded run (or FKD_SHARDS)', min: 1, max: MAX_SLICES });

/** The slice of a run that is not split over workers. */
export const wholeJob: Slice = { index: 0, count: 1 };

/**
 * Parses `i/N` (as in `--shard 17/64`). Without it, a Kubernetes Indexed Job's
 * `JOB_COMPLETION_INDEX` and the `--shards N` / `FKD_SHARDS` count are used. Empty
 * environment variables count as unset; a `--shard` that contradicts `--shards` is refused.
 *
 * @example
 * parseSlice('17/64') // { index: 17, count: 64 }
 * parseSlice(undefined, { JOB_COMPLETION_INDEX: '17' }, 64) // { index: 17, count: 64 }
 */
export function parseSlice(text: string | undefined, env: NodeJS.ProcessEnv = process.env, shards?: number): Slice {
  if (text !== undefined) {
    const [index, count] = text.trim().split('/').map((part) => (/^\d+$/.test(part) ? integerFromText(part) : undefined));
    if (text.trim().split('/').length !== 2 || index === undefined || count === undefined) throw new FkdError('E_USAGE', `Expected --shard as i/N (for example 3/8) but received "${text}".`);
    const slice = checkSlice(index, count);
    if (shards !== undefined && shards !== slice.count) {
      throw new FkdError('E_USAGE', `--shard ${text.trim()} says ${slice.count} workers but --shards says ${shards}. Pass one of them, or the same count to both.`);
    }
    return slice;
  }
  const count = shards ?? workerCount(env);
  const index = environmentInteger(env, 'JOB_COMPLETION_INDEX');
  if (count === undefined) {
    if (index !== undefined) {
      throw new FkdError('E_USAGE', `JOB_COMPLETION_INDEX=${index} is set but the worker count is not: pass --shards N or set FKD_SHARDS.`);
    }
    return wholeJob;
  }
  if (index === undefined) {
    throw new FkdError('E_USAGE', `--shards ${count} needs a worker index: pass --shard i/${count} or run as a Kubernetes Indexed Job (JOB_COMPLETION_INDEX).`);
  }
  return checkSlice(index, count);
}

/** The worker count `FKD_SHARDS` sets, checked like `--shards`; unset or blank is `undefined`. */
export function workerCount(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const count = environmentInteger(env, 'FKD_SHARDS');
  return count === undefined ? undefined : SHARDS_FIELD.check(count, 'FKD_SHARDS');
}

/** A non-negative integer from the environment; unset or blank is `undefined`. */
function environmentInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name]?.trim();
  if (text === undefined || text === '') return undefined;
  const number = integerFromText(text);
  if (number === undefined || number < 0) throw new FkdError('E_USAGE', `Expected a non-negative integer in ${name} but received "${env[name]}".`);
  return number;
}

function checkSlice(index: number, count: number): Slice {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SLICES || !Number.isInteger(index) || index < 0 || index >= count) {
    // With a count of 0 there is no index range to name ("0..-1"): say what the count must be first.
    const wanted = Number.isInteger(count) && count >= 1 && count <= MAX_SLICES ? `a worker index in 0..${count - 1}` : 'a worker index below the count';
    throw new FkdError('E_USAGE', `Expected a worker count in 1..${MAX_SLICES} and ${wanted} but received ${index}/${count}.`);
  }
  return { index, count };
}
