export interface OrderedWindowOptions {
  /** Stops the window: no task starts after it fires, and the next step throws its reason. */
  signal?: AbortSignal | undefined;
}

/**
 * Runs `start(0)`, `start(1)`, … `start(count - 1)` with at most `width` of them in flight, and
 * yields their results strictly in index order. Task `i + width` starts as soon as result `i`
 * has been taken, before it is yielded, so the consumer's work on `i` overlaps the next tasks.
 * Which task finishes first never changes what comes out, or when a task starts relative to
 * the consumer: that is what keeps label shards and loader batches byte-identical at any
 * concurrency.
 *
 * A rejected task rejects the iteration when its turn comes (tasks that settle earlier are
 * observed, so no rejection goes unhandled). When the iteration ends early (an error, an abort,
 * or the consumer's `break`), it waits for the tasks still in flight to settle before it
 * returns, so none outlives it. Map a task's errors to values inside `start` to go on past
 * them.
 *
 * @example
 * for await (const image of orderedWindow(files.length, 4, (i) => decode(files[i]))) {
 *   render(image); // decodes i + 1 … i + 4 run meanwhile
 * }
 */
export async function* orderedWindow<T>(count: number, width: number, start: (index: number) => Promise<T>, options: OrderedWindowOptions = {}): AsyncGenerator<T, void, undefined> {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`Expected a non-negative integer count but received ${count}`);
  if (!Number.isSafeInteger(width) || width < 1) throw new RangeError(`Expected a positive integer width but received ${width}`);
  const { signal } = options;
  const inFlight = new Map<number, Promise<T>>();
  const launch = (index: number): void => {
    if (index >= count || signal?.aborted) return;
    // An async wrapper turns a synchronous throw from `start` into this task's rejection.
    const task = (async () => start(index))();
    task.catch(() => undefined); // observed when its turn comes
    inFlight.set(index, task);
  };
  try {
    for (let index = 0; index < Math.min(width, count); index++) launch(index);
    for (let index = 0; index < count; index++) {
      signal?.throwIfAborted();
      const task = inFlight.get(index)!;
      const result = await task;
      inFlight.delete(index);
      launch(index + width);
      yield result;
    }
  } finally {
    await Promise.allSettled(inFlight.values());
  }
}
