import { describe, expect, it } from 'vitest';
import { OrderedBudget } from '../../src/pipeline/ordered-budget.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Which of the promises have settled so far, after the event loop has run. */
async function settled(promises: Array<Promise<unknown>>): Promise<boolean[]> {
  const done = promises.map(() => false);
  promises.forEach((promise, i) => void promise.then(() => (done[i] = true), () => (done[i] = true)));
  await tick();
  return done;
}

describe('OrderedBudget', () => {
  it('admits in index order and only while what is held fits', async () => {
    const budget = new OrderedBudget(100);
    const late = budget.admit(1, 10);
    expect(await settled([late])).toEqual([false]); // index 0 has not come yet
    const first = budget.admit(0, 60);
    expect(await settled([first, late])).toEqual([true, true]);
    const third = budget.admit(2, 40);
    expect(await settled([third])).toEqual([false]); // 70 held + 40 > 100
    budget.release(60);
    expect(await settled([third])).toEqual([true]);
  });

  it('admits a task larger than the whole budget once nothing else is held, so it is slow, not stuck', async () => {
    const budget = new OrderedBudget(100);
    await budget.admit(0, 30);
    const huge = budget.admit(1, 1000);
    expect(await settled([huge])).toEqual([false]);
    budget.release(30);
    expect(await settled([huge])).toEqual([true]);
  });

  it('lets later tasks past one that passed without holding anything', async () => {
    const budget = new OrderedBudget(100);
    const second = budget.admit(1, 10);
    budget.pass(0);
    expect(await settled([second])).toEqual([true]);
  });

  it('rejects every waiter on close and on abort, so no task waits forever', async () => {
    const budget = new OrderedBudget(10);
    await budget.admit(0, 10);
    const waiting = budget.admit(1, 10);
    budget.close(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
    await expect(budget.admit(2, 1)).rejects.toThrow('stopped');
    const controller = new AbortController();
    const aborted = new OrderedBudget(10, controller.signal);
    await aborted.admit(0, 10);
    const blocked = aborted.admit(1, 10);
    controller.abort(new Error('signal'));
    await expect(blocked).rejects.toThrow('signal');
  });
});
