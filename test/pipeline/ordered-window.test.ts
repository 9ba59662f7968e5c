import { describe, expect, it } from 'vitest';
import { orderedWindow } from '../../src/pipeline/ordered-window.js';

/** A task whose settling the test controls. */
interface Gate<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function gate<T>(): Gate<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}

describe('orderedWindow', () => {
  it('yields results in index order whatever order the tasks finish in', async () => {
    const delays = [30, 5, 20, 0, 10, 1, 15, 2];
    const results = await collect(orderedWindow(delays.length, 4, (i) => new Promise<number>((resolve) => setTimeout(() => resolve(i * 10), delays[i]))));
    expect(results).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
  });

  it('keeps at most `width` tasks in flight and starts task i + width when result i is taken', async () => {
    const gates = Array.from({ length: 6 }, () => gate<number>());
    const started: number[] = [];
    let running = 0;
    let peak = 0;
    const window = orderedWindow(6, 3, (i) => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      return gates[i]!.promise.finally(() => running--);
    });
    const first = window.next();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[2]!.resolve(2);
    gates[1]!.resolve(1);
    await tick();
    expect(started).toEqual([0, 1, 2]); // 1 and 2 are done, but 0 is not taken yet
    gates[0]!.resolve(0);
    expect(await first).toEqual({ value: 0, done: false });
    expect(started).toEqual([0, 1, 2, 3]);
    for (const i of [3, 4, 5]) gates[i]!.resolve(i);
    expect(await collect({ [Symbol.asyncIterator]: () => window })).toEqual([1, 2, 3, 4, 5]);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak).toBe(3);
  });

  it('handles an empty range and a width above the count', async () => {
    expect(await collect(orderedWindow(0, 4, async () => 1))).toEqual([]);
    expect(await collect(orderedWindow(2, 100, async (i) => i))).toEqual([0, 1]);
  });

  it('refuses a count or width that is not a whole number of tasks', async () => {
    await expect(collect(orderedWindow(-1, 2, async () => 0))).rejects.toThrow('Expected a non-negative integer count but received -1');
    await expect(collect(orderedWindow(3, 0, async () => 0))).rejects.toThrow('Expected a positive integer width but received 0');
  });

  it('rejects with a task error in its turn, after the results before it, and waits for the tasks in flight', async () => {
    const late = gate<number>();
    let lateSettled = false;
    const seen: number[] = [];
    const run = (async () => {
      for await (const value of orderedWindow(4, 3, (i) => {
        if (i === 1) return Promise.reject(new Error('task 1 failed'));
        if (i === 2) return late.promise.finally(() => (lateSettled = true));
        return Promise.resolve(i);
      })) {
        seen.push(value);
      }
    })();
    let outcome: unknown = 'pending';
    run.then(() => (outcome = 'resolved'), (error: unknown) => (outcome = (error as Error).message));
    await tick();
    expect(seen).toEqual([0]);
    expect(outcome).toBe('pending'); // task 2 is still running
    late.resolve(2);
    await run.catch(() => undefined);
    expect(outcome).toBe('task 1 failed');
    expect(lateSettled).toBe(true);
  });

  it('turns a task that throws synchronously into a rejection in its turn', async () => {
    const window = orderedWindow(2, 2, (i) => {
      if (i === 1) throw new Error('no task 1');
      return Promise.resolve(i);
    });
    await expect(collect(window)).rejects.toThrow('no task 1');
  });

  it('leaves no rejection unhandled when a later task fails while an earlier one is awaited', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const first = gate<number>();
      const window = orderedWindow(3, 3, (i) => (i === 0 ? first.promise : Promise.reject(new Error(`task ${i} failed`))));
      const result = collect(window);
      await tick();
      await tick();
      first.resolve(0);
      await expect(result).rejects.toThrow('task 1 failed');
      await tick();
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('stops on abort: no task starts after it, and the next step throws the reason', async () => {
    const controller = new AbortController();
    const started: number[] = [];
    const seen: number[] = [];
    const run = (async () => {
      for await (const value of orderedWindow(10, 2, async (i) => (started.push(i), i), { signal: controller.signal })) {
        seen.push(value);
        if (value === 2) controller.abort(new Error('stop here'));
      }
    })();
    await expect(run).rejects.toThrow('stop here');
    expect(seen).toEqual([0, 1, 2]);
    expect(started).toEqual([0, 1, 2, 3, 4]); // 4 started when 2 was taken, before the abort
  });

  it('waits for the tasks in flight when the consumer breaks out early', async () => {
    const slow = gate<number>();
    let slowSettled = false;
    const run = (async () => {
      for await (const value of orderedWindow(5, 3, (i) => (i === 2 ? slow.promise.finally(() => (slowSettled = true)) : Promise.resolve(i)))) {
        if (value === 0) break;
      }
    })();
    let finished = false;
    void run.then(() => (finished = true));
    await tick();
    expect(finished).toBe(false);
    slow.resolve(2);
    await run;
    expect(slowSettled).toBe(true);
  });
});
