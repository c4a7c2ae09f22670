import type { Writable } from 'node:stream';
import type { StreamEvent } from './stream-event';

export interface SseWriterOptions {
  /** A comment is written this often, so that proxies and clients keep an idle stream open. */
  keepAliveMs: number;
  /** The reconnection delay suggested to clients (`retry:`). */
  retryMs: number;
  /** Longest wait for a client to take what was written before it is dropped (default 30 s). */
  writeTimeoutMs?: number;
}

export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;

/**
 * Writes the text/event-stream framing onto a response.
 *
 * A small writer rather than an SSE library: `better-sse` (the best-kept option) gives every
 * pushed event an id of its own (a random one when none is given), while here only persisted
 * events may carry `id:` — a volatile event with an id would overwrite the client's
 * Last-Event-ID and break its resume. It also writes without regard to backpressure, and this
 * endpoint's slow-client policy needs the writable's buffered length and `drain`. What is left
 * (framing, keep-alive, close) is a few lines.
 */
export class SseWriter {
  private keepAlive: NodeJS.Timeout | undefined;
  private isClosed = false;
  /** Resolves when the connection is gone, whoever closed it. */
  readonly closed: Promise<void>;

  constructor(
    private readonly out: Writable,
    private readonly options: SseWriterOptions,
  ) {
    this.closed = new Promise((resolve) => {
      const done = () => {
        this.isClosed = true;
        if (this.keepAlive) clearInterval(this.keepAlive);
        resolve();
      };
      if (out.destroyed || out.writableFinished) done();
      out.once('close', done);
      out.once('error', done);
    });
  }

  get open(): boolean {
    return !this.isClosed && !this.out.destroyed && !this.out.writableEnded;
  }

  /** Bytes written but not yet taken by the client (the socket's own buffer aside). */
  get backlog(): number {
    return this.out.writableLength;
  }

  /** Starts the stream: the suggested retry delay, then a keep-alive comment every interval. */
  start(): void {
    this.write(`retry: ${this.options.retryMs}\n\n`);
    this.keepAlive = setInterval(() => this.comment('keep-alive'), this.options.keepAliveMs);
    this.keepAlive.unref();
  }

  /**
   * Writes one event: `id:` only when it has one, `event:` its type, `data:` its JSON (which
   * never contains a raw line break). Returns false when the caller should wait for `drained()`.
   */
  event(event: StreamEvent): boolean {
    const id = event.id === null ? '' : `id: ${event.id}\n`;
    return this.write(`${id}event: ${event.type}\ndata: ${event.json}\n\n`);
  }

  comment(text: string): boolean {
    return this.write(`: ${text.replace(/[\r\n]+/g, ' ')}\n\n`);
  }

  /**
   * Resolves when the client has taken the buffered bytes, or the connection is gone: true, or
   * false when it had not taken them within the write timeout and has been dropped. Without the
   * deadline a client that never reads would hold its replay, and its connection, forever.
   */
  drained(): Promise<boolean> {
    if (!this.open || this.out.writableLength === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (drained: boolean) => {
        clearTimeout(timer);
        this.out.off('drain', onDrain);
        resolve(drained);
      };
      const onDrain = () => done(true);
      const timer = setTimeout(() => {
        this.destroy();
        done(false);
      }, this.options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS);
      this.out.on('drain', onDrain);
      void this.closed.then(() => done(true));
    });
  }

  /** Ends the stream normally, after what is buffered has been sent. */
  end(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    if (this.open) this.out.end();
  }

  /** Drops the connection at once (a client that cannot keep up, or a failure mid-stream). */
  destroy(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.isClosed = true;
    this.out.destroy();
  }

  private write(text: string): boolean {
    if (!this.open) return true;
    return this.out.write(text);
  }
}
