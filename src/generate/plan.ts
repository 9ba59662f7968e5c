import { FkdError } from '../errors.js';
import type { Slice } from '../store/shards.js';

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
    const match = /^(\d+)\/(\d+)$/.exec(text.trim());
    if (!match) throw new FkdError('E_USAGE', `Expected --shard as i/N (for example 3/8) but received "${text}".`);
    const slice = checkSlice(Number(match[1]), Number(match[2]));
    if (shards !== undefined && shards !== slice.count) {
      throw new FkdError('E_USAGE', `--shard ${text.trim()} says ${slice.count} workers but --shards says ${shards}. Pass one of them, or the same count to both.`);
    }
    return slice;
  }
  const count = shards ?? environmentInteger(env, 'FKD_SHARDS');
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

/** A non-negative integer from the environment; unset or blank is `undefined`. */
function environmentInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name]?.trim();
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw new FkdError('E_USAGE', `Expected a non-negative integer in ${name} but received "${env[name]}".`);
  return Number(text);
}

function checkSlice(index: number, count: number): Slice {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new FkdError('E_USAGE', `Expected a worker index in 0..${count - 1} and a positive worker count but received ${index}/${count}.`);
  }
  return { index, count };
}
