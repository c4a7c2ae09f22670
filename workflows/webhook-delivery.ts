import { ActivityFailure, proxyActivities, sleep, TimeoutFailure } from '@temporalio/workflow';
import type { RunwayActivities } from '../activities';

/** Start of one sending of a delivery (its generation); no secret, no body: the activity reads them. */
export interface WebhookDeliveryInput {
  deliveryId: string;
  generation: number;
  /** The waits between attempts (attempts = waits + 1), from RUNWAY_WEBHOOK_RETRY_SCHEDULE. */
  scheduleMs: number[];
  /** Bound of one attempt activity: the HTTP timeout plus room to record it. */
  attemptTimeoutMs: number;
}

export interface WebhookAttemptInput {
  deliveryId: string;
  generation: number;
  /** 1-based attempt of this generation. */
  attempt: number;
  /** The wait before the next attempt if this one fails, or null when it is the last. */
  retryInMs: number | null;
}

/**
 * `delivered`: a 2xx; `retry`: a failure with attempts left; `failed`: the last attempt failed;
 * `disabled`: the endpoint is disabled (a 410, or by its owner); `gone`: nothing to do (deleted,
 * superseded by a newer retry, or already settled).
 */
export type WebhookAttemptOutcome = 'delivered' | 'retry' | 'failed' | 'disabled' | 'gone';

export const WEBHOOK_DELIVERY_WORKFLOW_TYPE = 'webhookDeliveryWorkflow';

/** The workflow id of a delivery's generation: the delivery id itself, then `<id>:<n>` for manual retries. */
export function webhookWorkflowId(deliveryId: string, generation: number): string {
  return generation <= 1 ? deliveryId : `${deliveryId}:${generation}`;
}

const { failWebhookDelivery, recordLostWebhookAttempt } = proxyActivities<RunwayActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '1 hour',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Sends one delivery: each attempt is one activity that is never retried by Temporal (this
 * workflow owns the schedule), and the waits are durable timers, so the schedule survives worker
 * and server restarts. It ends after a 2xx, a 410, a newer generation, or the last attempt.
 */
export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<WebhookAttemptOutcome> {
  const { attemptWebhookDelivery } = proxyActivities<RunwayActivities>({
    startToCloseTimeout: input.attemptTimeoutMs,
    retry: { maximumAttempts: 1 },
  });
  const attempts = input.scheduleMs.length + 1;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const retryInMs = attempt < attempts ? (input.scheduleMs[attempt - 1] as number) : null;
    let outcome: WebhookAttemptOutcome;
    try {
      outcome = await attemptWebhookDelivery({ deliveryId: input.deliveryId, generation: input.generation, attempt, retryInMs });
    } catch (err) {
      // The attempt did not finish (worker lost, timeout, database down): it counts as failed.
      outcome = retryInMs === null ? 'failed' : 'retry';
      await recordLostWebhookAttempt({ deliveryId: input.deliveryId, generation: input.generation, retryInMs, reason: lostReason(err) });
    }
    if (outcome !== 'retry') {
      if (outcome === 'failed') await failWebhookDelivery({ deliveryId: input.deliveryId, generation: input.generation });
      return outcome;
    }
    await sleep(retryInMs as number);
  }
  return 'failed';
}

function lostReason(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) return 'the attempt did not finish in time (its worker may have been lost)';
  return `the attempt did not complete: ${cause instanceof Error ? cause.message : String(cause)}`.slice(0, 500);
}
