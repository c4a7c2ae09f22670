import type { Db } from '../db/database';
import {
  decodeEventsNotice,
  decodeVolatileNotice,
  RUN_EVENTS_CHANNEL,
  RUN_VOLATILE_CHANNEL,
  type DecodedNotice,
  type VolatileNotice,
} from '../db/notify-wire';
import { tokenGenerations, TOKENS_REVOKED_CHANNEL } from '../db/accounts';
import { runEventHead } from '../db/run-event-head';
import { listEventsOfMany } from '../db/run-events';
import type { Logger } from '../logger';
import type { NotificationConsumer, PgListener } from '../db/pg-listener';
import { StreamSlots } from './stream-slots';
import { TokenWatch } from './token-watch';
import { fromRunEventRow, type PersistedStreamEvent, type StreamEvent } from './stream-event';

/** Receives one run's events. Called synchronously; implementations only queue. */
export interface RunEventSubscriber {
  /** Persisted events, in id order, each delivered once per subscriber. */
  events(events: PersistedStreamEvent[]): void;
  volatile(event: StreamEvent): void;
}

export type Unsubscribe = () => void;

export interface RunEventHubOptions {
  db: Db;
  /** The process's notifications connection (its owner closes it after the hub). */
  listener: PgListener;
  logger: Logger;
  /** Rows read per query when catching up. */
  pageSize?: number;
  /** The hub stops listening (and the connection closes if nothing else listens) after this long without any subscriber. */
  idleCloseMs?: number;
}

const CHANNELS = [RUN_EVENTS_CHANNEL, RUN_VOLATILE_CHANNEL, TOKENS_REVOKED_CHANNEL];

/**
 * The live fan-out of one API process: the process's LISTEN connection for every client, and per run
 * one reader that, on a notification, reads the rows after the last id it delivered (once for all
 * of that run's subscribers) and hands them to each. After the connection is (re)established,
 * every run with subscribers catches up from the table, so a notification lost while the
 * connection was down loses nothing.
 */
export class RunEventHub {
  private readonly channels = new Map<string, RunChannel>();
  /** Set while the hub listens on its channels. */
  private unlisten: (() => void) | undefined;
  private readonly consumer: NotificationConsumer;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Counters for tests and diagnostics. */
  readonly stats = { notifications: 0, reads: 0, connects: 0, inlineDelivered: 0 };
  /** The event streams this process serves, per account (one hub per API process). */
  readonly streams = new StreamSlots();
  /** The streams opened with scoped tokens, ended at expiry or revocation (heard on the same connection). */
  readonly tokens: TokenWatch;

  constructor(private readonly options: RunEventHubOptions) {
    this.tokens = new TokenWatch((ids) => tokenGenerations(options.db, ids), options.logger);
    this.consumer = {
      notify: (channel, payload) => this.onNotification(channel, payload),
      resync: () => {
        this.stats.connects++;
        for (const channel of this.channels.values()) this.request(channel);
        void this.tokens.checkAll();
      },
    };
  }

  get subscribedRuns(): number {
    return this.channels.size;
  }

  /**
   * Registers a subscriber to a stream (a run's, or a session's own) and resolves once its reader knows where it stands: from then
   * on, every event committed after the caller's next read of the table reaches the subscriber.
   * Callers replay from the table only after this resolves.
   */
  async subscribe(streamId: string, subscriber: RunEventSubscriber): Promise<Unsubscribe> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.unlisten ??= this.options.listener.listen(CHANNELS, this.consumer);
    let channel = this.channels.get(streamId);
    if (!channel) {
      channel = new RunChannel(streamId, this.options.db, this.options.logger);
      this.channels.set(streamId, channel);
    }
    const joined = channel;
    joined.subscribers.add(subscriber);
    const unsubscribe = () => {
      joined.subscribers.delete(subscriber);
      if (joined.subscribers.size > 0 || this.channels.get(streamId) !== joined) return;
      joined.closed = true;
      this.channels.delete(streamId);
      if (this.channels.size === 0) this.scheduleIdleClose();
    };
    try {
      await joined.ready;
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const channel of this.channels.values()) channel.closed = true;
    this.channels.clear();
    this.stopListening();
  }

  private stopListening(): void {
    this.unlisten?.();
    this.unlisten = undefined;
  }

  private scheduleIdleClose(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.channels.size === 0) this.stopListening();
    }, this.options.idleCloseMs ?? 30_000);
    this.idleTimer.unref();
  }

  /** Channels with news to read, and whether a read round is under way. */
  private readonly wanted = new Set<RunChannel>();
  private reading = false;

  /**
   * Asks for a channel's new rows. Requests are read in rounds, one query for every run asked for
   * together (with 200 streaming runs a notification burst is one round trip, not 200), and rounds
   * never overlap, so each run's events are delivered in order and once.
   */
  private request(channel: RunChannel): void {
    if (channel.closed) return;
    this.wanted.add(channel);
    if (this.reading) return;
    this.reading = true;
    setImmediate(() => {
      void this.readRounds().finally(() => {
        this.reading = false;
        if (this.wanted.size > 0) this.request([...this.wanted][0] as RunChannel);
      });
    });
  }

  private async readRounds(): Promise<void> {
    const pageSize = this.options.pageSize ?? 2000;
    while (this.wanted.size > 0) {
      const batch = [...this.wanted].filter((c) => !c.closed);
      this.wanted.clear();
      const ready = (await Promise.allSettled(batch.map((c) => c.ready))).map((r) => r.status === 'fulfilled');
      const open = batch.filter((c, i) => ready[i]);
      if (open.length === 0) continue;
      let rows;
      try {
        this.stats.reads++;
        rows = await listEventsOfMany(this.options.db, open.map((c) => ({ runId: c.runId, after: c.lastId })), pageSize);
      } catch (err) {
        this.options.logger.warn({ err, runs: open.length }, 'reading new run events failed; retrying');
        setTimeout(() => open.forEach((c) => this.request(c)), 500).unref();
        return;
      }
      const byRun = new Map<string, PersistedStreamEvent[]>();
      for (const row of rows) {
        const list = byRun.get(row.run_id) ?? [];
        list.push(fromRunEventRow(row));
        byRun.set(row.run_id, list);
      }
      for (const channel of open) {
        const events = byRun.get(channel.runId);
        if (!events || channel.closed) continue;
        channel.deliver(events);
        if (events.length >= pageSize) this.wanted.add(channel); // more than one page waits
      }
    }
  }

  /**
   * Events that came with their notification are delivered without reading the table when they
   * continue exactly where the run's subscribers are; otherwise (a gap, the channel still opening)
   * the table is read as for a short notice, and de-duplication by id keeps delivery exactly-once.
   */
  private onInlineEvents(runs: Extract<DecodedNotice, { kind: 'inline' }>['runs']): void {
    for (const { runId, events } of runs) {
      const run = this.channels.get(runId);
      if (!run) continue;
      if (run.deliverContiguous(events)) this.stats.inlineDelivered++;
      else this.request(run);
    }
  }

  /** Payloads are decoded by ../db/notify-wire, where the worker's side encodes them. */
  private onNotification(channel: string, payload: string): void {
    if (channel === TOKENS_REVOKED_CHANNEL) {
      const at = payload.lastIndexOf(':');
      const generation = Number(payload.slice(at + 1));
      if (at > 0 && Number.isInteger(generation)) this.tokens.revoked(payload.slice(0, at), generation);
      return;
    }
    if (channel === RUN_EVENTS_CHANNEL) {
      this.stats.notifications++;
      let notice: DecodedNotice;
      try {
        notice = decodeEventsNotice(payload);
      } catch (err) {
        this.options.logger.warn({ err }, 'ignoring a malformed run events notice');
        return;
      }
      if (notice.kind === 'inline') {
        this.onInlineEvents(notice.runs);
        return;
      }
      const run = this.channels.get(notice.runId);
      if (run && (!Number.isFinite(notice.lastId) || notice.lastId > run.lastId)) this.request(run);
      return;
    }
    let parsed: VolatileNotice;
    try {
      parsed = decodeVolatileNotice(payload);
    } catch (err) {
      this.options.logger.warn({ err }, 'ignoring a malformed volatile event');
      return;
    }
    const run = this.channels.get(parsed.runId);
    if (!run) return;
    const event: StreamEvent = { id: null, type: parsed.type, json: parsed.json };
    for (const subscriber of run.subscribers) subscriber.volatile(event);
  }
}

/** One run's subscribers and how far they have been served; the hub reads for it. */
class RunChannel {
  readonly subscribers = new Set<RunEventSubscriber>();
  /** The highest id delivered to subscribers (or known to be committed when the channel opened). */
  lastId = 0;
  closed = false;
  readonly ready: Promise<void>;
  private isReady = false;

  constructor(
    readonly runId: string,
    db: Db,
    private readonly logger: Logger,
  ) {
    // Events committed up to now are the subscribers' own replay; the hub delivers the rest.
    this.ready = runEventHead(db, runId).then((head) => {
      this.lastId = head ?? 0;
      this.isReady = true;
    });
    // Silent on purpose (only marks the rejection handled): every user of `ready` sees the error,
    // subscribe() throws it to its caller and the read rounds skip the channel.
    this.ready.catch(() => undefined);
  }

  /** Delivers events that follow on from what was delivered; false when they do not (a gap). */
  deliverContiguous(events: PersistedStreamEvent[]): boolean {
    if (!this.isReady || this.closed) return false;
    const fresh = events.filter((e) => e.id > this.lastId);
    if (fresh.length > 0 && fresh[0]?.id !== this.lastId + 1) return false;
    this.deliver(fresh);
    return true;
  }

  deliver(events: PersistedStreamEvent[]): void {
    const fresh = events.filter((e) => e.id > this.lastId);
    if (fresh.length === 0) return;
    this.lastId = fresh[fresh.length - 1]?.id ?? this.lastId;
    for (const subscriber of this.subscribers) {
      try {
        subscriber.events(fresh);
      } catch (err) {
        this.logger.error({ err, runId: this.runId }, 'run event subscriber failed');
      }
    }
  }
}
