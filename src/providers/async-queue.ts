/**
 * A single-consumer queue read with `for await`: producers (child process streams, timers,
 * signals) push items, end it, or fail it; the consumer sees them in order.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void } | undefined;
  private ended = false;
  private failure: { err: unknown } | undefined;

  push(item: T): void {
    if (this.ended || this.failure) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  end(): void {
    if (this.ended || this.failure) return;
    this.ended = true;
    this.settleWaiting();
  }

  /** Fails the consumer's next read, after the items already queued are dropped (a stop wins). */
  fail(err: unknown): void {
    if (this.ended || this.failure) return;
    this.failure = { err };
    this.items.length = 0;
    this.settleWaiting();
  }

  private settleWaiting(): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (!w) return;
    if (this.failure) w.reject(this.failure.err);
    else w.resolve({ value: undefined, done: true });
  }

  private next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.failure) return Promise.reject(this.failure.err);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
