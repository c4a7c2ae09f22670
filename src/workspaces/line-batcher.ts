export interface LineBatcherOptions<T> {
  /** Longest a line waits before it is written. */
  maxDelayMs: number;
  /** Lines kept per preparation attempt; later ones are handed to `onDrop` (the output tail
   * still reaches the error message). */
  maxLines: number;
  onDrop?: (item: T) => void;
}

/** Batches output lines into few writes, in order, one write at a time. */
export class LineBatcher<T> {
  private pending: T[] = [];
  private written = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly options: LineBatcherOptions<T>,
  ) {}

  push(item: T): void {
    if (this.written + this.pending.length >= this.options.maxLines) {
      this.options.onDrop?.(item);
      return;
    }
    this.pending.push(item);
    // A timed flush has nobody to tell: its failure stays in `chain`, where the next flush or
    // close that finds nothing newer to write returns it to its caller.
    this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.options.maxDelayMs);
  }

  /** Writes what is pending; resolves once every earlier write is done. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0) {
      this.written += batch.length;
      // One failed write must not block the later ones; the caller awaiting it sees the error.
      this.chain = this.chain.catch(() => undefined).then(() => this.write(batch));
    }
    return this.chain;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
