import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setImmediate as nextTurn } from 'node:timers/promises';

let collect: (() => void) | undefined;

/**
 * Runs a full garbage collection now. Decoded images live in buffers the collector frees
 * only when it next runs, so memory bounded by "pixels in flight" would otherwise also hold
 * every image rendered since the last collection. Callers use it after large images only:
 * it costs a full collection (milliseconds for a small heap, more for a large one).
 *
 * It resolves a turn of the event loop later: native buffers (sharp's) are freed by
 * finalizers Node runs after the collection, not during it. `--expose-gc` is switched on the
 * first time; `gc` then exists in new contexts.
 *
 * @example
 * if (pixels > LARGE) await collectGarbage();
 */
export async function collectGarbage(): Promise<void> {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
  await nextTurn();
}
