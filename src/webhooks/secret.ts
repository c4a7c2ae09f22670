import { randomBytes } from 'node:crypto';
import { seal, unseal } from '../secrets/sealed-box';
import type { SealedBox } from '../../workflows/types';

/** `whsec_` + base64 of 32 random bytes, the Standard Webhooks secret format. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Sealed with RUNWAY_SECRETS_KEY, bound to the endpoint id: a box copied onto another endpoint does not open. */
export function sealWebhookSecret(key: Buffer, webhookId: string, secret: string): SealedBox {
  return seal(key, `webhook:${webhookId}`, secret);
}

export function openWebhookSecret(key: Buffer, webhookId: string, box: SealedBox): string {
  return unseal<string>(key, `webhook:${webhookId}`, box);
}
