/**
 * A budget (of pixels, bytes, …) that tasks numbered 0, 1, 2, … draw from strictly in index
 * order: task `i` is admitted only after every task before it was admitted or passed, and
 * only while what is held leaves room for it. A task larger than the whole budget is still
 * admitted when nothing else is held, so one huge image is slow, never stuck.
 *
 * Order is what makes it safe beside an ordered consumer (`orderedWindow`): what is held
 * always belongs to tasks before the first waiting one, and the consumer takes those first
 * and releases them, so the waiting task is always eventually admitted.
 *
 * `close` (or the signal) rejects every waiter, for the paths where the consumer stops and
 * would otherwise leave tasks waiting forever.
 *
 * @example
 * const budget = new OrderedBudget(200e6);
 * await budget.admit(0, width * height); // decode image 0
 * budget.release(width * height);        // once its crops are rendered
 */
export class OrderedBudget {
  private next = 0;
  private held = 0;
  private closed: Error | null = null;
  private readonly waiting = new Map<number, { amount: number; resolve: () => void; reject: (error: Error) => void }>();
  private readonly onAbort: () => void;

  constructor(
    readonly capacity: number,
    private readonly signal?: AbortSignal,
  ) {
    if (!(capacity > 0)) throw new RangeError(`Expected a positive capacity but received ${capacity}`);
    this.onAbort = () => this.close(signal?.reason);
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Resolves when task `index` may hold `amount`. Each index is admitted or passed exactly once. */
  admit(index: number, amount: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed !== null) {
        reject(this.closed);
        return;
      }
      this.waiting.set(index, { amount, resolve, reject });
      this.grant();
    });
  }

  /** Task `index` holds nothing (it failed before it knew its size): later tasks need not wait for it. */
  pass(index: number): void {
    if (this.waiting.has(index) || index < this.next) return;
    this.waiting.set(index, { amount: 0, resolve: () => undefined, reject: () => undefined });
    this.grant();
  }

  /** Gives back what an admitted task held. */
  release(amount: number): void {
    this.held -= amount;
    this.grant();
  }

  /** Rejects every waiting and future `admit` with `reason`. Call it when done, too: it lets go of the signal. */
  close(reason: unknown = new Error('The budget was closed.')): void {
    if (this.closed !== null) return;
    this.closed = reason instanceof Error ? reason : new Error(String(reason));
    this.signal?.removeEventListener('abort', this.onAbort);
    for (const waiter of this.waiting.values()) waiter.reject(this.closed);
    this.waiting.clear();
  }

  private grant(): void {
    for (;;) {
      const waiter = this.waiting.get(this.next);
      if (!waiter || (this.held > 0 && this.held + waiter.amount > this.capacity)) return;
      this.waiting.delete(this.next);
      this.next++;
      this.held += waiter.amount;
      waiter.resolve();
    }
  }
}
