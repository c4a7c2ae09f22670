import pg from 'pg';
import type { Logger } from '../logger';

export interface PgListenerOptions {
  connectionString: string;
  channels: string[];
  logger: Logger;
  /** Shown in pg_stat_activity, so an operator (or a test) can find this connection. */
  applicationName: string;
  onNotification(channel: string, payload: string): void;
  /**
   * Called after every successful (re)connection, once LISTEN is in place. Notifications sent
   * while no connection was listening are lost, so this is where subscribers catch up from the table.
   */
  onConnected(): void;
}

const MAX_BACKOFF_MS = 5_000;

/**
 * One dedicated PostgreSQL connection that LISTENs on a few channels. It is not taken from the
 * pool: a pooled connection would be handed to other queries, and LISTEN belongs to a session.
 * A dropped connection is re-opened with capped exponential back-off for as long as it is wanted.
 */
export class PgListener {
  private client: pg.Client | undefined;
  /** The client being connected, if any; any other client is stale and ignored. */
  private pending: pg.Client | undefined;
  private wanted = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PgListenerOptions) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  start(): void {
    this.wanted = true;
    if (!this.client && !this.pending && !this.retryTimer) this.connect();
  }

  async stop(): Promise<void> {
    this.wanted = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    this.client = undefined;
    this.pending = undefined;
    // Ending a connection we are done with (here and below) is silent on purpose: a failure means it
    // is already gone, and a lost connection is reported where it is noticed (lost()).
    await client?.end().catch(() => undefined);
  }

  private connect(): void {
    const { connectionString, applicationName, channels, logger } = this.options;
    const client = new pg.Client({ connectionString, application_name: applicationName, keepAlive: true });
    this.pending = client;
    client.on('notification', (msg) => {
      if (client === this.client || client === this.pending) this.options.onNotification(msg.channel, msg.payload ?? '');
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    void (async () => {
      try {
        await client.connect();
        for (const channel of channels) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (err) {
        if (client !== this.pending) return;
        this.pending = undefined;
        logger.warn({ err, attempt: this.failures + 1 }, 'event listener could not connect; retrying');
        void client.end().catch(() => undefined);
        this.scheduleReconnect();
        return;
      }
      if (client !== this.pending) {
        void client.end().catch(() => undefined); // stopped (or superseded) while connecting
        return;
      }
      this.pending = undefined;
      this.client = client;
      if (this.failures > 0) logger.info('event listener reconnected');
      this.failures = 0;
      this.options.onConnected();
    })();
  }

  private lost(client: pg.Client, err?: Error): void {
    if (client !== this.client) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    if (!this.wanted) return;
    this.options.logger.warn({ reason: err?.message ?? 'connection ended' }, 'event listener connection lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.wanted || this.retryTimer) return;
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.wanted && !this.client && !this.pending) this.connect();
    }, delay);
    this.retryTimer.unref();
  }
}
