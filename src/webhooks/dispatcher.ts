import type { Client } from '@temporalio/client';
import type { Db } from '../db/database';
import {
  claimDueDeliveries,
  confirmDeliveryStarts,
  markDeliveryFailed,
  postponeDeliveryStart,
  WEBHOOK_DELIVERY_CHANNEL,
  type DispatchItem,
  type DispatchLimits,
} from '../db/webhooks';
import type { Logger } from '../logger';
import { Outbox, type OutboxStore } from '../outbox/outbox';
import { startWorkflowOnce } from '../outbox/start-once';
import type { PgListener } from '../db/pg-listener';
import type { WebhookSettings } from '../config';
import { WEBHOOK_DELIVERY_WORKFLOW_TYPE, webhookAttemptWorkflowId, type WebhookDeliveryInput } from '../../workflows/webhook-delivery';

/** Deliveries claimed at once, and started at once by one process. */
const BATCH = 50;
const START_TIMEOUT_MS = 10_000;
/**
 * A started delivery overdue by this much no longer holds its account's slot. Longer than any
 * legitimate delay of a live one: an attempt's bound plus the hour its lost attempt's record may
 * be retried through a database outage.
 */
const STALE_AFTER_MS = 2 * 3_600_000;
/** Room for recording an attempt after its HTTP timeout, within the attempt activity's bound. */
const RECORD_MARGIN_MS = 5_000;
/** Recorded on a delivery whose workflow could not be started in time (the tenant reads it). */
const NOT_STARTED = 'the delivery could not be started in time';

export interface WebhookDispatcherOptions {
  db: Db;
  client: Client;
  /** The process's notifications connection. */
  listener: PgListener;
  /** The deliveries' own task queue (RUNWAY_WEBHOOK_TASK_QUEUE), polled by the webhook worker. */
  taskQueue: string;
  settings: WebhookSettings;
  /** A delivery whose workflow could not be started for this long is recorded failed (RUNWAY_START_DEADLINE_MS). */
  deadlineMs: number;
  logger: Logger;
}

/**
 * Starts the delivery workflows of deliveries committed by settling runs (and of manual retries),
 * and of parked deliveries whose next attempt is due, through the `webhook_deliveries` outbox
 * (src/outbox), at most RUNWAY_WEBHOOK_MAX_IN_FLIGHT_PER_ACCOUNT per account at once, round-robin
 * between accounts and between an account's endpoints (see `claimDueDeliveries`). It wakes up on
 * the NOTIFY the settle transaction sends on commit and the one a settled or parked delivery sends
 * when its account has more due, and polls every RUNWAY_WEBHOOK_POLL_MS for whatever a
 * notification did not cover (a parked retry coming due, a worker that was down, a start backed
 * off). The workflow id is the delivery's generation and attempt, so a start made twice is harmless.
 */
export class WebhookDispatcher {
  private readonly outbox: Outbox<DispatchItem>;
  private unlisten: (() => void) | undefined;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.outbox = new Outbox({
      store: deliveryStore(options.db, { batch: BATCH, maxInFlightPerAccount: options.settings.maxInFlightPerAccount, staleAfterMs: STALE_AFTER_MS }),
      start: (item) => this.startDelivery(item),
      describe: (item) => ({ deliveryId: item.id }),
      settings: { inFlight: BATCH, pollMs: options.settings.pollMs, deadlineMs: options.deadlineMs },
      logger: options.logger,
      batch: BATCH,
    });
  }

  start(): void {
    this.outbox.startRelay();
    const kick = () => this.outbox.kick();
    this.unlisten ??= this.options.listener.listen([WEBHOOK_DELIVERY_CHANNEL], { notify: kick, resync: kick });
  }

  async stop(): Promise<void> {
    this.unlisten?.();
    this.unlisten = undefined;
    await this.outbox.close();
  }

  private async startDelivery(item: DispatchItem): Promise<void> {
    const { settings, client, taskQueue } = this.options;
    const input: WebhookDeliveryInput = {
      deliveryId: item.id,
      generation: item.generation,
      scheduleMs: settings.retryScheduleMs,
      attemptTimeoutMs: settings.timeoutMs + RECORD_MARGIN_MS,
      parkAfterMs: settings.parkAfterMs,
      firstAttempt: item.attempt,
    };
    const workflowId = webhookAttemptWorkflowId(item.id, item.generation, item.attempt);
    await startWorkflowOnce(client, WEBHOOK_DELIVERY_WORKFLOW_TYPE, { taskQueue, workflowId, args: [input] }, START_TIMEOUT_MS);
  }
}

/** The `webhook_deliveries` table as an outbox: a claimed delivery is in flight, under a start lease. */
export function deliveryStore(db: Db, limits: DispatchLimits): OutboxStore<DispatchItem> {
  return {
    claim: async (limit, leaseMs) => {
      const claimed = await claimDueDeliveries(db, { ...limits, batch: limit }, leaseMs);
      if (claimed === 'busy') return claimed;
      // The deadline counts from the first failed start: a delivery waiting for its account's room is not late.
      return claimed.map(({ item, starts, failingSince }) => ({ item, attempts: starts, since: failingSince ?? new Date() }));
    },
    started: (items) => confirmDeliveryStarts(db, items),
    postpone: (item, delayMs) => postponeDeliveryStart(db, item, delayMs),
    expire: (item) => markDeliveryFailed(db, item.id, item.generation, NOT_STARTED),
  };
}
