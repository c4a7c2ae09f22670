import { getDeliveryTarget, markDeliveryFailed, recordDeliveryAttempt } from '../src/db/webhooks';
import { openWebhookSecret } from '../src/webhooks/secret';
import { sendWebhook } from '../src/webhooks/send';
import { metrics } from '../src/metrics/metrics';
import { signedHeaders } from '../src/webhooks/sign';
import type { WebhookAttemptInput, WebhookAttemptOutcome } from '../workflows/webhook-delivery';
import type { ActivityDeps } from './deps';

const DEFAULT_SETTINGS = { allowPrivate: false, timeoutMs: 10_000, connectTimeoutMs: 3_000 };

/**
 * One attempt of a webhook delivery, recorded in the delivery log. The secret is opened here and
 * nowhere else: it never enters workflow history, and never a log line.
 */
export function webhookActivities(deps: ActivityDeps) {
  const settings = deps.webhooks ?? DEFAULT_SETTINGS;
  /** One attempt: sent, recorded, and what the workflow does next. */
  const attempt = async (input: WebhookAttemptInput): Promise<WebhookAttemptOutcome> => {
    const target = await getDeliveryTarget(deps.db, input.deliveryId);
    if (!target) return 'gone';
    const { delivery, endpoint, body } = target;
    // A parked delivery's next attempt belongs to the workflow the dispatcher starts for it.
    if (delivery.generation !== input.generation || delivery.status !== 'pending' || delivery.parked_attempt !== null) return 'gone';
    // A workflow behind the one started for a later attempt of this generation.
    if (input.attempt < delivery.started_attempt) return 'gone';
    if (endpoint.disabled) {
      await markDeliveryFailed(deps.db, delivery.id, input.generation, 'the endpoint is disabled');
      return 'disabled';
    }
    const secret = openWebhookSecret(deps.secretsKey, endpoint.id, endpoint.secret_box);
    const headers = signedHeaders(secret, delivery.id, new Date(), body);
    const result = await sendWebhook(
      { url: endpoint.url, headers, body },
      { allowPrivate: settings.allowPrivate, timeoutMs: settings.timeoutMs, connectTimeoutMs: settings.connectTimeoutMs },
    );
    const base = { deliveryId: delivery.id, generation: input.generation, attempt: input.attempt };
    if (result.kind === 'response' && result.statusCode >= 200 && result.statusCode < 300) {
      await recordDeliveryAttempt(deps.db, { ...base, status: 'delivered', statusCode: result.statusCode, error: null, nextAttemptAt: null });
      return 'delivered';
    }
    if (result.kind === 'response' && result.statusCode === 410) {
      await recordDeliveryAttempt(deps.db, {
        ...base,
        status: 'failed',
        statusCode: 410,
        error: 'HTTP 410 Gone: the endpoint was disabled',
        nextAttemptAt: null,
        disableEndpoint: true,
      });
      return 'disabled';
    }
    const last = input.retryInMs === null;
    const statusCode = result.kind === 'response' ? result.statusCode : null;
    const error =
      result.kind === 'error'
        ? result.message
        : result.statusCode >= 300 && result.statusCode < 400
          ? `HTTP ${result.statusCode} (redirects are not followed)`
          : `HTTP ${result.statusCode}`;
    const park = !last && input.park === true;
    await recordDeliveryAttempt(deps.db, {
      ...base,
      status: last ? 'failed' : 'pending',
      statusCode,
      error,
      nextAttemptAt: last ? null : new Date(Date.now() + (input.retryInMs as number)),
      ...(park ? { parkedAttempt: input.attempt + 1 } : {}),
    });
    return last ? 'failed' : park ? 'parked' : 'retry';
  };
  return {
    async attemptWebhookDelivery(input: WebhookAttemptInput): Promise<WebhookAttemptOutcome> {
      const outcome = await attempt(input);
      // A parked attempt is a failed one with a retry to come, as before parking existed.
      metrics.webhookDeliveries.inc({ outcome: outcome === 'parked' ? 'retry' : outcome });
      return outcome;
    },

    /**
     * Logs an attempt whose activity never reported back (its worker died, or it timed out); with
     * `park`, the delivery is parked until its next attempt. `attempt` (the lost one) is absent
     * in calls made before parking existed.
     */
    async recordLostWebhookAttempt(input: {
      deliveryId: string;
      generation: number;
      retryInMs: number | null;
      reason: string;
      attempt?: number;
      park?: boolean;
    }): Promise<void> {
      const last = input.retryInMs === null;
      await recordDeliveryAttempt(deps.db, {
        deliveryId: input.deliveryId,
        generation: input.generation,
        status: last ? 'failed' : 'pending',
        statusCode: null,
        error: input.reason,
        nextAttemptAt: last ? null : new Date(Date.now() + (input.retryInMs as number)),
        ...(input.attempt !== undefined ? { attempt: input.attempt } : {}),
        ...(!last && input.park === true && input.attempt !== undefined ? { parkedAttempt: input.attempt + 1 } : {}),
      });
    },

    /** Ends a generation whose schedule is used up (its last attempt may not have been recorded). */
    async failWebhookDelivery(input: { deliveryId: string; generation: number }): Promise<void> {
      await markDeliveryFailed(deps.db, input.deliveryId, input.generation);
    },
  };
}
