import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { Db } from '../db/database';
import { dispatchPendingDeliveries, WEBHOOK_DELIVERY_CHANNEL, type DispatchItem } from '../db/webhooks';
import type { Logger } from '../logger';
import { PgListener } from '../streams/pg-listener';
import type { WebhookSettings } from '../config';
import { WEBHOOK_DELIVERY_WORKFLOW_TYPE, webhookAttemptWorkflowId, type WebhookDeliveryInput } from '../../workflows/webhook-delivery';

const BATCH = 50;
const START_DEADLINE_MS = 10_000;
/** How soon a pass that found another process's pass under way tries again. */
const BUSY_RETRY_MS = 250;
/**
 * A started delivery overdue by this much no longer holds its account's slot. Longer than any
 * legitimate delay of a live one: an attempt's bound plus the hour its lost attempt's record may
 * be retried through a database outage.
 */
const STALE_AFTER_MS = 2 * 3_600_000;
/** Room for recording an attempt after its HTTP timeout, within the attempt activity's bound. */
const RECORD_MARGIN_MS = 5_000;

export interface WebhookDispatcherOptions {
  db: Db;
  client: Client;
  databaseUrl: string;
  /** The deliveries' own task queue (RUNWAY_WEBHOOK_TASK_QUEUE), polled by the webhook worker. */
  taskQueue: string;
  settings: WebhookSettings;
  logger: Logger;
}

/**
 * Starts the delivery workflows of deliveries committed by settling runs (and of manual retries),
 * and of parked deliveries whose next attempt is due, at most
 * RUNWAY_WEBHOOK_MAX_IN_FLIGHT_PER_ACCOUNT per account at once, round-robin between accounts and
 * between an account's endpoints (see `dispatchPendingDeliveries`). It wakes up on the NOTIFY the
 * settle transaction sends on commit and the one a settled or parked delivery sends when its
 * account has more due, and polls every RUNWAY_WEBHOOK_POLL_MS for whatever a notification did not
 * cover (a parked retry coming due, a worker that was down, a start that failed). A duplicate
 * start is harmless: the workflow id is the delivery's generation and attempt (REJECT_DUPLICATE),
 * and an "already started" answer counts as started.
 */
export class WebhookDispatcher {
  private readonly listener: PgListener;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.listener = new PgListener({
      connectionString: options.databaseUrl,
      channels: [WEBHOOK_DELIVERY_CHANNEL],
      logger: options.logger,
      applicationName: 'runway-webhook-dispatcher',
      onNotification: () => this.kick(),
      onConnected: () => this.kick(),
    });
  }

  start(): void {
    this.stopped = false;
    this.listener.start();
    this.timer = setInterval(() => this.kick(), this.options.settings.pollMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.listener.stop();
    await this.running;
  }

  /** Runs a pass now, or right after the one under way. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.passes().finally(() => {
      this.running = undefined;
    });
  }

  private async passes(): Promise<void> {
    do {
      this.again = false;
      try {
        const limits = { batch: BATCH, maxInFlightPerAccount: this.options.settings.maxInFlightPerAccount, staleAfterMs: STALE_AFTER_MS };
        const n = await dispatchPendingDeliveries(this.options.db, limits, (items) => this.startAll(items));
        if (n === 'busy') {
          // Another worker is dispatching: what it did not see is taken by a pass a moment later.
          setTimeout(() => this.kick(), BUSY_RETRY_MS).unref();
          return;
        }
        if (n === BATCH) this.again = true;
      } catch (err) {
        // Retried by the next notification or poll; nothing is marked started.
        this.options.logger.warn({ err }, 'webhook dispatch pass failed');
        return;
      }
    } while (this.again && !this.stopped);
  }

  private async startAll(items: DispatchItem[]): Promise<void> {
    const { settings, client, taskQueue } = this.options;
    // Bounded, so a Temporal outage never holds the claimed rows' locks for long.
    await client.withDeadline(Date.now() + START_DEADLINE_MS, () => this.startEach(items, settings, client, taskQueue));
  }

  private async startEach(items: DispatchItem[], settings: WebhookSettings, client: Client, taskQueue: string): Promise<void> {
    await Promise.all(
      items.map(async (item) => {
        const input: WebhookDeliveryInput = {
          deliveryId: item.id,
          generation: item.generation,
          scheduleMs: settings.retryScheduleMs,
          attemptTimeoutMs: settings.timeoutMs + RECORD_MARGIN_MS,
          parkAfterMs: settings.parkAfterMs,
          firstAttempt: item.attempt,
        };
        try {
          await client.workflow.start(WEBHOOK_DELIVERY_WORKFLOW_TYPE, {
            taskQueue,
            workflowId: webhookAttemptWorkflowId(item.id, item.generation, item.attempt),
            args: [input],
            workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
      }),
    );
  }
}
