import { Webhook } from 'standardwebhooks';
import type { components } from './api-types.js';

type Schemas = components['schemas'];

export type WebhookEvent = {
  type: Schemas['WebhookDelivery']['eventType'];
  timestamp: string;
  data: Record<string, unknown> & { id: string; status: Schemas['Run']['status']; user: string | null };
};

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

/**
 * Checks a webhook delivery (Standard Webhooks: HMAC-SHA256 over id, timestamp and the raw body)
 * and returns its event. Throws on a bad signature, missing headers, or a timestamp more than
 * five minutes off. Pass the body exactly as received, before any JSON parsing.
 */
export function verifyWebhook(rawBody: string, headers: HeaderBag, secret: string): WebhookEvent {
  const flat: Record<string, string> = {};
  const entries: Iterable<[string, unknown]> = headers instanceof Headers ? headers.entries() : Object.entries(headers);
  for (const [k, v] of entries) {
    if (typeof v === 'string') flat[k.toLowerCase()] = v;
    else if (Array.isArray(v) && typeof v[0] === 'string') flat[k.toLowerCase()] = v[0];
  }
  return new Webhook(secret).verify(rawBody, flat) as WebhookEvent;
}
