import { Webhook } from 'standardwebhooks';

export const WEBHOOK_USER_AGENT = 'Runway-Webhooks/1.0 (+https://runway.dev/docs/webhooks)';

/**
 * The Standard Webhooks headers of one attempt: `webhook-id` (the delivery id, the same on every
 * attempt), `webhook-timestamp` (this attempt, unix seconds) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the base64-decoded secret).
 */
export function signedHeaders(secret: string, deliveryId: string, at: Date, body: string): Record<string, string> {
  const timestamp = new Date(Math.floor(at.getTime() / 1000) * 1000);
  return {
    'webhook-id': deliveryId,
    'webhook-timestamp': String(timestamp.getTime() / 1000),
    'webhook-signature': new Webhook(secret).sign(deliveryId, timestamp, body),
    'content-type': 'application/json',
    'user-agent': WEBHOOK_USER_AGENT,
  };
}
