import { context, type Context } from '@opentelemetry/api';
import type { Logger } from '../logger';

/** One row of an outbox, claimed (leased) by a relay. */
export interface OutboxEntry<T> {
  /** What `start` is given. */
  item: T;
  /** Starts tried so far, this one included. */
  attempts: number;
  /** Where the deadline counts from. */
  since: Date;
}

/**
 * Where an outbox's rows live (the SQL is in src/db). Every method commits before it returns: no
 * row lock is ever held while a workflow is being started.
 */
export interface OutboxStore<T> {
  /**
   * Leases up to `limit` due entries for `leaseMs` (claimed with `FOR UPDATE SKIP LOCKED`, so
   * relays never take the same entry at once; one whose relay died comes due when its lease
   * ends). 'busy': another relay's claim is under way and this one should try again shortly.
   */
  claim(limit: number, leaseMs: number): Promise<OutboxEntry<T>[] | 'busy'>;
  /** Their workflows exist: the entries are done. */
  started(items: T[]): Promise<void>;
  /** A start failed: tried again after `delayMs`. */
  postpone(item: T, delayMs: number, reason: string): Promise<void>;
  /** The terminal callback: the entry was not started within the deadline, and never will be. */
  expire(item: T): Promise<void>;
}

export interface OutboxSettings {
  /** Starts this process has in flight at once (for this outbox). */
  inFlight: number;
  /** How often the relay looks for due entries (besides `kick`). */
  pollMs: number;
  /** An entry not started this long after `since` is expired. */
  deadlineMs: number;
}

export interface OutboxOptions<T> {
  store: OutboxStore<T>;
  /**
   * Starts the item's workflow under an id that makes a second start harmless (see
   * `startWorkflowOnce`); throws when it could not.
   */
  start(item: T): Promise<void>;
  /** How the item is named in logs. */
  describe(item: T): Record<string, string>;
  settings: OutboxSettings;
  logger: Logger;
  /** Entries claimed per query; a full claim is followed by another at once. */
  batch?: number;
}

const DEFAULT_BATCH = 100;
const LEASE_MS = 30_000;
/** After a start failed for the server's sake, the fast path sends none for a while. */
const PAUSE_MS = 2_000;
const MAX_RETRY_DELAY_MS = 60_000;
/** How soon a relay that found another's claim under way tries again. */
const BUSY_RETRY_MS = 250;
/** Started entries are confirmed together, every so often. */
const CONFIRM_EVERY_MS = 50;
/** The most items one process keeps waiting in memory on the fast path; the relay starts any beyond. */
const MAX_WAITING = 10_000;

/** Waits before the next start of an entry that failed `attempts` times. */
export const retryDelayMs = (attempts: number): number => Math.min(MAX_RETRY_DELAY_MS, 1000 * 2 ** Math.min(attempts, 6));

interface Waiting<T> {
  item: T;
  since: number;
  /** The committing request's context, so that a start made later is still part of its trace. */
  trace: Context;
  graceMs: number;
}

/**
 * The transactional outbox: a row committed with the work it announces (an admitted run, a
 * webhook delivery) is turned into a workflow by a relay in every process that has one. The
 * relay claims due rows with a lease, starts each workflow with a duplicate-safe id, confirms
 * the started ones, postpones a failed one with exponential back-off, and hands one that could
 * not be started before its deadline to the store's terminal callback. The fast path (`startNow`,
 * `startSoon`) is the committing process starting its own entries at once, a few at a time, in
 * the same slots; what it does not start in time is left to a relay.
 */
export class Outbox<T> {
  private inFlight = 0;
  private readonly slotFreed: (() => void)[] = [];
  private readonly waiting: Waiting<T>[] = [];
  private readonly launching = new Set<Promise<unknown>>();
  private pausedUntil = 0;
  private confirmed: T[] = [];
  private confirmTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private relaying = false;
  private closed = false;

  constructor(private readonly options: OutboxOptions<T>) {}

  /** Starts the relay: a pass now, then every `pollMs` and on every `kick`. */
  startRelay(): void {
    this.relaying = true;
    this.pollTimer = setInterval(() => this.kick(), this.options.settings.pollMs);
    this.pollTimer.unref();
    this.kick();
  }

  /** Runs a relay pass now, or right after the one under way. */
  kick(): void {
    if (this.closed || !this.relaying) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.passes().finally(() => {
      this.running = undefined;
    });
  }

  /** Stops relaying and waits for the starts under way; entries not started stay in the outbox. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    await this.running;
    // A start still retrying inside the client would call a closed connection from its timer.
    await Promise.allSettled([...this.launching]);
    await this.flushConfirmed();
  }

  /** Starts the item now (waiting for a slot); false when it could not be: a relay starts it later. */
  async startNow(item: T): Promise<boolean> {
    if (this.closed || Date.now() < this.pausedUntil) return false;
    await this.slot();
    try {
      return (await this.launch(item)) === null;
    } finally {
      this.release();
    }
  }

  /** Starts the item soon, in this process's free slots; after `graceMs` it is left to a relay. */
  startSoon(item: T, graceMs: number): void {
    if (this.closed || this.waiting.length >= MAX_WAITING) return;
    this.waiting.push({ item, since: Date.now(), trace: context.active(), graceMs });
    this.pump();
  }

  /** One relay pass over what is due now; the number of entries claimed, or 'busy'. */
  async relayOnce(): Promise<number | 'busy'> {
    const claimed = await this.options.store.claim(this.options.batch ?? DEFAULT_BATCH, LEASE_MS);
    if (claimed === 'busy') return claimed;
    await Promise.all(claimed.map((entry) => this.relayEntry(entry)));
    await this.flushConfirmed();
    return claimed.length;
  }

  private async passes(): Promise<void> {
    do {
      this.again = false;
      try {
        const n = await this.relayOnce();
        if (n === 'busy') {
          setTimeout(() => this.kick(), BUSY_RETRY_MS).unref();
          return;
        }
        if (n >= (this.options.batch ?? DEFAULT_BATCH)) this.again = true;
      } catch (err) {
        // Retried by the next kick or poll; claimed entries come due again when their lease ends.
        this.options.logger.warn({ err }, 'outbox relay pass failed; trying again');
        return;
      }
    } while (this.again && !this.closed);
  }

  private async relayEntry({ item, attempts, since }: OutboxEntry<T>): Promise<void> {
    const { store, settings, logger, describe } = this.options;
    if (Date.now() - since.getTime() > settings.deadlineMs) {
      await store.expire(item);
      logger.error(describe(item), 'workflow not started before its deadline; ended by the outbox');
      return;
    }
    await this.slot();
    try {
      const failure = await this.launch(item);
      if (failure !== null) await store.postpone(item, retryDelayMs(attempts), failure);
    } finally {
      this.release();
    }
  }

  /** Drains what this process committed, in its free slots; entries a relay may have taken by now are left to it. */
  private pump(): void {
    while (this.inFlight < this.options.settings.inFlight && this.waiting.length > 0) {
      const next = this.waiting.shift() as Waiting<T>;
      if (Date.now() - next.since >= next.graceMs || Date.now() < this.pausedUntil) continue;
      this.inFlight += 1;
      // Pumped from whichever call freed a slot: the start belongs to its own request's trace.
      const launched = context.with(next.trace, () => this.launch(next.item)).finally(() => {
        this.launching.delete(launched);
        this.release();
      });
      this.launching.add(launched);
    }
  }

  private async slot(): Promise<void> {
    while (this.inFlight >= this.options.settings.inFlight) {
      await new Promise<void>((resolve) => this.slotFreed.push(resolve));
    }
    this.inFlight += 1;
  }

  private release(): void {
    this.inFlight -= 1;
    const waiter = this.slotFreed.shift();
    if (waiter) waiter();
    else this.pump();
  }

  /** Starts the item's workflow: null once it exists (its entry confirmed soon), else why not. Never throws. */
  private async launch(item: T): Promise<string | null> {
    try {
      await this.options.start(item);
      this.confirmLater(item);
      return null;
    } catch (err) {
      // Said once per outage (the relay keeps trying every entry), not once per entry.
      const level = Date.now() < this.pausedUntil ? 'debug' : 'warn';
      this.pausedUntil = Date.now() + PAUSE_MS;
      const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      this.options.logger[level]({ ...this.options.describe(item), reason }, 'workflow not started; the outbox relay tries again');
      return reason;
    }
  }

  private confirmLater(item: T): void {
    this.confirmed.push(item);
    this.confirmTimer ??= setTimeout(() => void this.flushConfirmed(), CONFIRM_EVERY_MS);
  }

  private async flushConfirmed(): Promise<void> {
    clearTimeout(this.confirmTimer);
    this.confirmTimer = undefined;
    const items = this.confirmed;
    this.confirmed = [];
    if (items.length === 0) return;
    await this.options.store.started(items).catch((err: unknown) => {
      // Left in the outbox: a relay starts them again when their lease ends, harmlessly, and confirms them then.
      this.options.logger.warn({ err, count: items.length }, 'started workflows not confirmed in the outbox');
    });
  }
}
