import type { Db } from '../db/database';
import type { WebhookDeliveryRow, WebhookEndpointRow, WebhookEventType } from '../db/schema';
import { getOwnedWebhook, insertWebhookWithinCap, requeueOwnedDelivery, updateOwnedWebhook, type WebhookPatch } from '../db/webhooks';
import { newId } from '../ids';
import { NotFound } from '../runs/errors';
import type { WebhookSettings } from '../config';
import { TooManyRedeliveries, TooManyWebhooks } from './errors';
import { WEBHOOK_EVENT_TYPES } from '../db/webhook-payload';
import { newWebhookSecret, sealWebhookSecret } from './secret';
import { checkWebhookUrl, type UrlPolicy } from './url-check';

export interface WebhookServiceDeps {
  db: Db;
  secretsKey: Buffer;
  settings: Pick<WebhookSettings, 'allowPrivate' | 'maxEndpoints' | 'maxRedeliveries'>;
  /** DNS for the registration check (tests inject one). */
  resolve?: UrlPolicy['resolve'];
}

/** Registration rules of webhook endpoints: URL policy, the per-account cap, secrets sealed at rest. */
export class WebhookService {
  constructor(private readonly deps: WebhookServiceDeps) {}

  private checkUrl(url: string): Promise<string> {
    return checkWebhookUrl(url, { allowPrivate: this.deps.settings.allowPrivate, resolve: this.deps.resolve });
  }

  /** The new endpoint and its secret, which is shown only now (and on rotation). */
  async create(
    accountId: string,
    input: { url: string; events?: WebhookEventType[]; description?: string | null },
  ): Promise<{ endpoint: WebhookEndpointRow; secret: string }> {
    const url = await this.checkUrl(input.url);
    const id = newId('wh');
    const secret = newWebhookSecret();
    const endpoint = await insertWebhookWithinCap(
      this.deps.db,
      {
        id,
        accountId,
        url,
        events: [...new Set(input.events ?? WEBHOOK_EVENT_TYPES)],
        description: input.description ?? null,
        secretBox: sealWebhookSecret(this.deps.secretsKey, id, secret),
      },
      this.deps.settings.maxEndpoints,
    );
    if (!endpoint) throw new TooManyWebhooks(this.deps.settings.maxEndpoints);
    return { endpoint, secret };
  }

  async update(
    accountId: string,
    id: string,
    patch: { url?: string; events?: WebhookEventType[]; description?: string | null; disabled?: boolean },
  ): Promise<WebhookEndpointRow> {
    // Ownership first, so another account's id is a 404 whatever the body says.
    if (!(await getOwnedWebhook(this.deps.db, accountId, id))) throw new NotFound('webhook');
    const changes: WebhookPatch = {
      ...patch,
      ...(patch.url !== undefined ? { url: await this.checkUrl(patch.url) } : {}),
      ...(patch.events !== undefined ? { events: [...new Set(patch.events)] } : {}),
    };
    const row = await updateOwnedWebhook(this.deps.db, accountId, id, changes);
    if (!row) throw new NotFound('webhook');
    return row;
  }

  /** A new secret, effective for every attempt from now on (pending retries included). */
  async rotateSecret(accountId: string, id: string): Promise<string> {
    const secret = newWebhookSecret();
    const row = await updateOwnedWebhook(this.deps.db, accountId, id, { secretBox: sealWebhookSecret(this.deps.secretsKey, id, secret) });
    if (!row) throw new NotFound('webhook');
    return secret;
  }

  /** Sends a delivery again (same `webhook-id`), within the per-delivery cap of manual retries. */
  async redeliver(accountId: string, webhookId: string, deliveryId: string): Promise<WebhookDeliveryRow> {
    const res = await requeueOwnedDelivery(this.deps.db, { accountId, webhookId, deliveryId }, this.deps.settings.maxRedeliveries);
    if (res === 'not-found') throw new NotFound('delivery');
    if (res === 'limit') throw new TooManyRedeliveries(this.deps.settings.maxRedeliveries);
    return res;
  }
}
