import { ActivityFailure, deprecatePatch, proxyActivities, sleep, TimeoutFailure } from '@temporalio/workflow';
import type { RunwayActivities } from '../activities';
import { PATCHES } from './patches';

/** Start of one sending of a delivery (its generation); no secret, no body: the activity reads them. */
export interface WebhookDeliveryInput {
  deliveryId: string;
  generation: number;
  /** The waits between attempts (attempts = waits + 1), from RUNWAY_WEBHOOK_RETRY_SCHEDULE. */
  scheduleMs: number[];
  /** Bound of one attempt activity: the HTTP timeout plus room to record it. */
  attemptTimeoutMs: number;
  /**
   * A retry wait at least this long is not slept here: the delivery is parked in PostgreSQL and
   * this workflow ends (`parked`); the dispatcher starts the next attempt's workflow when it is
   * due.
   */
  parkAfterMs: number;
  /** The attempt this workflow starts with (1, or a parked delivery's next one). */
  firstAttempt: number;
}

export interface WebhookAttemptInput {
  deliveryId: string;
  generation: number;
  /** 1-based attempt of this generation. */
  attempt: number;
  /** The wait before the next attempt if this one fails, or null when it is the last. */
  retryInMs: number | null;
  /** If this attempt fails, park the delivery for `retryInMs` (the workflow then ends) instead of a timer. */
  park?: boolean;
}

/**
 * `delivered`: a 2xx; `retry`: a failure with attempts left; `parked`: the same, its next attempt
 * parked in PostgreSQL; `failed`: the last attempt failed; `disabled`: the endpoint is disabled (a
 * 410, or by its owner); `gone`: nothing to do (deleted, superseded by a newer retry, already
 * settled, or parked).
 */
export type WebhookAttemptOutcome = 'delivered' | 'retry' | 'parked' | 'failed' | 'disabled' | 'gone';

export const WEBHOOK_DELIVERY_WORKFLOW_TYPE = 'webhookDeliveryWorkflow';

/** The workflow id of a delivery's generation: the delivery id itself, then `<id>:<n>` for manual retries. */
export function webhookWorkflowId(deliveryId: string, generation: number): string {
  return generation <= 1 ? deliveryId : `${deliveryId}:${generation}`;
}

/**
 * The workflow id of a generation's workflow that starts at `attempt`: the generation's own id
 * for its first attempt, `<id>:<generation>:<attempt>` for a parked delivery's continuation. One
 * id per (generation, attempt), started with REJECT_DUPLICATE: a second start of the same
 * continuation is refused by Temporal, so each attempt is sent by one workflow only.
 */
export function webhookAttemptWorkflowId(deliveryId: string, generation: number, attempt: number): string {
  return attempt <= 1 ? webhookWorkflowId(deliveryId, generation) : `${deliveryId}:${generation}:${attempt}`;
}

const { failWebhookDelivery, recordLostWebhookAttempt } = proxyActivities<RunwayActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '1 hour',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Sends one delivery: each attempt is one activity that is never retried by Temporal (this
 * workflow owns the schedule). A short wait is a durable timer here; a wait of at least
 * `parkAfterMs` parks the delivery in PostgreSQL and ends this workflow, and the dispatcher
 * starts another one from the next attempt when it is due, so a delivery waiting for days holds
 * no in-flight slot. Either way the schedule survives worker and server restarts. It ends after a 2xx, a 410, a newer generation, a parked wait, or the last attempt.
 */
export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<WebhookAttemptOutcome> {
  const { attemptWebhookDelivery } = proxyActivities<RunwayActivities>({
    startToCloseTimeout: input.attemptTimeoutMs,
    retry: { maximumAttempts: 1 },
  });
  // The parking patch is deprecated where it was asked (a continuation, an attempt followed by a
  // long wait), so a delivery that succeeds at once records no marker.
  const continued = input.firstAttempt > 1;
  if (continued) deprecatePatch(PATCHES.webhookParking);
  const attempts = input.scheduleMs.length + 1;
  for (let attempt = input.firstAttempt; attempt <= attempts; attempt++) {
    const retryInMs = attempt < attempts ? (input.scheduleMs[attempt - 1] as number) : null;
    const park = retryInMs !== null && retryInMs >= input.parkAfterMs;
    if (park) deprecatePatch(PATCHES.webhookParking);
    const base = { deliveryId: input.deliveryId, generation: input.generation, retryInMs };
    let outcome: WebhookAttemptOutcome;
    try {
      outcome = await attemptWebhookDelivery({ ...base, attempt, ...(park ? { park } : {}) });
    } catch (err) {
      // The attempt did not finish (worker lost, timeout, database down): it counts as failed.
      outcome = retryInMs === null ? 'failed' : park ? 'parked' : 'retry';
      await recordLostWebhookAttempt({ ...base, attempt, ...(park ? { park } : {}), reason: lostReason(err) });
    }
    if (outcome !== 'retry') {
      if (outcome === 'failed') await failWebhookDelivery({ deliveryId: input.deliveryId, generation: input.generation });
      return outcome;
    }
    await sleep(retryInMs as number);
  }
  // Reached only by a continuation whose schedule was shortened (by configuration) below its attempt.
  if (continued) await failWebhookDelivery({ deliveryId: input.deliveryId, generation: input.generation });
  return 'failed';
}

function lostReason(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) return 'the attempt did not finish in time (its worker may have been lost)';
  return `the attempt did not complete: ${cause instanceof Error ? cause.message : String(cause)}`.slice(0, 500);
}
