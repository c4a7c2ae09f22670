import type { Db } from '../db/database';
import { metrics } from '../metrics/metrics';
import { listRunEvents } from '../db/run-events';
import type { Logger } from '../logger';
import type { RunEventHub, Unsubscribe } from './run-event-hub';
import type { SseWriter } from './sse-writer';
import { fromRunEventRow, type PersistedStreamEvent, type StreamEvent } from './stream-event';

export interface RunEventStreamOptions {
  /** The stream followed: a run's (or request's) id, or a session's for its own events. */
  streamId: string;
  /** The last id the client already has (0 for everything). */
  afterId: number;
  /** False for a finished run: replay what is stored and close, with no live part. */
  follow: boolean;
  db: Db;
  hub: RunEventHub;
  sink: SseWriter;
  logger: Logger;
  /** Rows per replay query: big pages keep a replay of 10,000 events to a few queries. */
  pageSize: number;
  /** Live events queued plus bytes the client has not taken; beyond this the client is dropped. */
  maxBufferBytes: number;
}

/** How a stream ended: after `end`, after a finished run's replay, or the connection went first. */
export type StreamOutcome = 'ended' | 'replayed' | 'client-closed' | 'slow-client' | 'failed' | 'token-revoked' | 'token-expired';

/**
 * One client's view of a run: subscribe first, replay the table after the client's last id, then
 * live events, de-duplicated by id so the seam between the two has no gap and no repeat. The
 * subscription is in place before the first replay query, so an event committed at any moment
 * is either read by the replay or delivered live (or both, and then sent once).
 */
export class RunEventStream {
  private lastSent: number;
  private queue: PersistedStreamEvent[] = [];
  private queuedBytes = 0;
  /** When the oldest queued live event reached this process (its wait is the fan-out latency). */
  private queuedSince = 0;
  private live = false;
  private outcome: StreamOutcome | undefined;
  private wake: (() => void) | undefined;
  private unsubscribe: Unsubscribe | undefined;

  constructor(private readonly o: RunEventStreamOptions) {
    this.lastSent = o.afterId;
  }

  /** Joins the run's live fan-out; call before the response starts, so a failure is still a clean error. */
  async subscribe(): Promise<void> {
    if (!this.o.follow) return;
    this.unsubscribe = await this.o.hub.subscribe(this.o.streamId, {
      events: (events) => this.enqueue(events),
      volatile: (event) => this.sendVolatile(event),
    });
  }

  /** Streams until the run's `end`, the end of a finished run's replay, or the connection closing. */
  async run(): Promise<StreamOutcome> {
    const { sink } = this.o;
    void sink.closed.then(() => {
      this.outcome ??= 'client-closed';
      this.wake?.();
    });
    try {
      await this.replay();
      if (this.outcome) return this.outcome;
      if (!this.o.follow) {
        sink.end();
        return (this.outcome = 'replayed');
      }
      this.live = true;
      while (!this.outcome) {
        const batch = this.queue;
        const since = this.queuedSince;
        this.queue = [];
        this.queuedBytes = 0;
        if (batch.length === 0) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        for (const event of batch) {
          if (this.outcome) break;
          if (event.id <= this.lastSent) continue; // already sent by the replay
          // The hub delivers ids in order, so a hole is a bug or a lost read: fill it from the table.
          if (event.id > this.lastSent + 1) await this.replay(event.id - 1);
          if (!this.outcome) await this.send(event);
        }
        metrics.fanoutSeconds.observe((performance.now() - since) / 1000);
      }
      return this.outcome;
    } catch (err) {
      this.o.logger.warn({ err, streamId: this.o.streamId }, 'event stream failed; dropping the connection');
      sink.destroy();
      return (this.outcome = 'failed');
    } finally {
      this.unsubscribe?.();
    }
  }

  /** Sends the stored events after the last one sent, up to `untilId` (default: all of them). */
  private async replay(untilId = Number.MAX_SAFE_INTEGER): Promise<void> {
    while (!this.outcome && this.lastSent < untilId) {
      const limit = Math.min(this.o.pageSize, untilId - this.lastSent);
      const rows = await listRunEvents(this.o.db, this.o.streamId, this.lastSent, limit);
      for (const row of rows) {
        if (this.outcome) return;
        await this.send(fromRunEventRow(row));
      }
      if (rows.length < limit) return;
    }
  }

  /** Writes one persisted event, closing after `end` and waiting while the client is behind. */
  private async send(event: PersistedStreamEvent): Promise<void> {
    const { sink } = this.o;
    const flowing = sink.event(event);
    this.lastSent = event.id;
    if (event.type === 'end') {
      this.outcome = 'ended';
      sink.end();
      return;
    }
    if (!flowing && !(await sink.drained()) && !this.outcome) {
      this.o.logger.info({ streamId: this.o.streamId, lastSent: this.lastSent }, 'dropping an event stream client that stopped reading');
      this.outcome = 'slow-client';
    }
  }

  /**
   * Ends the stream from outside (its token was revoked or expired): what is written is flushed,
   * the connection closes, and the client's reconnection is answered by authentication (a 401).
   */
  stop(reason: 'token-revoked' | 'token-expired'): void {
    if (this.outcome) return;
    this.outcome = reason;
    this.queue = [];
    this.queuedBytes = 0;
    this.o.sink.comment(reason.replace('-', ' '));
    this.o.sink.end();
    this.wake?.();
  }

  /** Live events wait here while the replay runs or the client is behind; the wait is bounded. */
  private enqueue(events: PersistedStreamEvent[]): void {
    if (this.outcome) return;
    if (this.queue.length === 0) this.queuedSince = performance.now();
    for (const event of events) {
      this.queue.push(event);
      this.queuedBytes += event.json.length + 32;
    }
    if (this.queuedBytes + this.o.sink.backlog > this.o.maxBufferBytes) {
      // Growing without bound is not an option; the client can resume with Last-Event-ID.
      this.o.logger.info({ streamId: this.o.streamId, lastSent: this.lastSent }, 'dropping an event stream client that cannot keep up');
      this.outcome = 'slow-client';
      this.queue = [];
      this.queuedBytes = 0;
      this.o.sink.destroy();
    }
    this.wake?.();
  }

  /** Volatile events are best effort: sent only while live and the client is keeping up. */
  private sendVolatile(event: StreamEvent): void {
    if (this.live && !this.outcome && this.queue.length === 0 && this.o.sink.backlog === 0) this.o.sink.event(event);
  }
}
