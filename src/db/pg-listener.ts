import pg from 'pg';
import type { Logger } from '../logger';

export interface PgListenerOptions {
  connectionString: string;
  logger: Logger;
  /** Shown in pg_stat_activity, so an operator (or a test) can find this connection. */
  applicationName: string;
}

/** One module's use of the process's notifications connection. */
export interface NotificationConsumer {
  /** A notification on one of the channels this consumer listens on. Called synchronously; implementations only queue. */
  notify(channel: string, payload: string): void;
  /**
   * Called once LISTEN on this consumer's channels is in place: when it starts listening, and
   * after every reconnection. Notifications sent while no connection was listening are lost, so
   * this is where a consumer catches up from its table.
   */
  resync(): void;
}

interface Subscription {
  channels: readonly string[];
  consumer: NotificationConsumer;
  /** Not told of LISTEN being in place since it subscribed or the connection was lost. */
  fresh: boolean;
}

const MAX_BACKOFF_MS = 5_000;

/**
 * The process's one PostgreSQL connection for LISTEN, shared by every consumer (run events,
 * volatile events, token revocations, stops, webhook deliveries): each listens on its own
 * channels, and the connection is open while any channel is wanted. It is not taken from the
 * pool: a pooled connection would be handed to other queries, and LISTEN belongs to a session. A
 * dropped connection is re-opened once for all consumers, with capped exponential back-off, and
 * each consumer is then told to resync.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private listening = new Set<string>();
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** LISTEN, UNLISTEN and connecting happen one at a time, in order. */
  private syncing: Promise<void> = Promise.resolve();

  constructor(private readonly options: PgListenerOptions) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Listens on `channels` for `consumer` until the returned function is called. */
  listen(channels: readonly string[], consumer: NotificationConsumer): () => void {
    const subscription: Subscription = { channels, consumer, fresh: true };
    this.subscriptions.add(subscription);
    this.sync();
    return () => {
      if (this.subscriptions.delete(subscription)) this.sync();
    };
  }

  /** Closes the connection for good (after its consumers have stopped). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.subscriptions.clear();
    this.sync();
    await this.syncing;
  }

  private sync(): void {
    this.syncing = this.syncing.then(() => this.syncNow());
  }

  /** Brings the connection and its LISTENs in line with the subscriptions. Never throws. */
  private async syncNow(): Promise<void> {
    const wanted = new Set([...this.subscriptions].flatMap((s) => s.channels));
    if (wanted.size === 0 || this.closed) return this.disconnect();
    if (!this.client && !this.retryTimer) await this.connect();
    const client = this.client;
    if (!client) return; // a reconnection is scheduled
    try {
      for (const channel of wanted) {
        if (this.listening.has(channel)) continue;
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        this.listening.add(channel);
      }
      for (const channel of this.listening) {
        if (wanted.has(channel)) continue;
        await client.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`);
        this.listening.delete(channel);
      }
    } catch (err) {
      this.lost(client, err instanceof Error ? err : undefined);
      return;
    }
    for (const subscription of this.subscriptions) {
      if (!subscription.fresh) continue;
      subscription.fresh = false;
      subscription.consumer.resync();
    }
  }

  private async connect(): Promise<void> {
    const { connectionString, applicationName, logger } = this.options;
    const client = new pg.Client({ connectionString, application_name: applicationName, keepAlive: true });
    client.on('notification', (msg) => {
      if (client !== this.client) return;
      for (const { channels, consumer } of this.subscriptions) if (channels.includes(msg.channel)) consumer.notify(msg.channel, msg.payload ?? '');
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
    } catch (err) {
      logger.warn({ err, attempt: this.failures + 1 }, 'notifications listener could not connect; retrying');
      // Ending a connection we are done with is silent on purpose: a failure means it is already gone.
      void client.end().catch(() => undefined);
      this.scheduleReconnect();
      return;
    }
    if (this.failures > 0) logger.info('notifications listener reconnected');
    this.failures = 0;
    this.client = client;
    this.listening = new Set();
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.listening = new Set();
    await client?.end().catch(() => undefined); // see connect()
  }

  private lost(client: pg.Client, err?: Error): void {
    if (client !== this.client) return;
    this.client = undefined;
    this.listening = new Set();
    void client.end().catch(() => undefined); // see connect()
    for (const subscription of this.subscriptions) subscription.fresh = true;
    if (this.closed || this.subscriptions.size === 0) return;
    this.options.logger.warn({ reason: err?.message ?? 'connection ended' }, 'notifications listener connection lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.sync();
    }, delay);
    this.retryTimer.unref();
  }
}
