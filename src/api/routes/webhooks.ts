import type { Context } from 'koa';
import { deleteOwnedWebhook, getOwnedWebhook, listOwnedDeliveries, listOwnedWebhooks } from '../../db/webhooks';
import type { WebhookEndpointRow } from '../../db/schema';
import { accountOf } from '../auth';
import { decodeCursor, page } from '../cursor';
import type { ApiDeps } from '../deps';
import { endpoint } from '../endpoint';
import { json } from '../openapi-parts';
import { problems } from '../problem';
import { listQuerySchema, pageOf } from '../schemas';
import {
  createdWebhookSchema,
  createWebhookSchema,
  toDeliveryView,
  toWebhookView,
  updateWebhookSchema,
  webhookDeliverySchema,
  webhookSchema,
  webhookSecretSchema,
} from '../webhook-schemas';

async function ownedWebhook(deps: ApiDeps, ctx: Context, id: string): Promise<WebhookEndpointRow> {
  const row = await getOwnedWebhook(deps.db, accountOf(ctx).id, id);
  if (!row) throw problems.notFound('webhook');
  return row;
}

const noSuchWebhook = { 404: 'No such webhook (or another account\'s: indistinguishable)' };

/** Completion webhooks and their delivery logs: the account's API key only. */
export const webhookEndpoints = [
  endpoint({
    method: 'post', path: '/v1/webhooks', summary: 'Register a completion webhook (the secret is shown once)', auth: 'account',
    body: createWebhookSchema,
    responses: { 201: json(createdWebhookSchema, 'Created') },
    problems: {
      400: 'Invalid input, unknown event, or a URL that is not https or reaches a private address (invalid-webhook-url)',
      429: 'Too many webhook endpoints for this account (too-many-webhooks)',
    },
    async handle({ ctx, webhooks, body }) {
      const { endpoint: created, secret } = await webhooks.create(accountOf(ctx).id, body());
      ctx.status = 201;
      ctx.set('Location', `/v1/webhooks/${created.id}`);
      ctx.body = { ...toWebhookView(created), secret };
    },
  }),
  endpoint({
    method: 'get', path: '/v1/webhooks', summary: 'The caller\'s webhooks, newest first (no secrets)', auth: 'account',
    query: listQuerySchema,
    responses: { 200: json(pageOf(webhookSchema), 'A page of webhooks') },
    problems: { 400: 'Invalid query or cursor' },
    async handle({ ctx, deps, query }) {
      const q = query();
      const rows = await listOwnedWebhooks(deps.db, accountOf(ctx).id, { limit: q.limit, beforeSeq: decodeCursor(q.cursor) });
      ctx.body = { data: rows.map(toWebhookView), nextCursor: page(rows, q.limit, (r) => r.seq).nextCursor };
    },
  }),
  endpoint({
    method: 'get', path: '/v1/webhooks/{id}', summary: 'One webhook', auth: 'account',
    responses: { 200: json(webhookSchema, 'The webhook') },
    problems: noSuchWebhook,
    async handle({ ctx, deps, params }) {
      ctx.body = toWebhookView(await ownedWebhook(deps, ctx, params.id));
    },
  }),
  endpoint({
    method: 'patch', path: '/v1/webhooks/{id}', summary: 'Change a webhook, or re-enable a disabled one', auth: 'account',
    body: updateWebhookSchema, bodyOptional: true,
    responses: { 200: json(webhookSchema, 'The webhook') },
    problems: { 400: 'Invalid input or URL', ...noSuchWebhook },
    async handle({ ctx, webhooks, params, body }) {
      ctx.body = toWebhookView(await webhooks.update(accountOf(ctx).id, params.id, body()));
    },
  }),
  endpoint({
    method: 'delete', path: '/v1/webhooks/{id}', summary: 'Delete a webhook and its delivery log', auth: 'account',
    responses: { 204: { description: 'Deleted' } },
    problems: noSuchWebhook,
    async handle({ ctx, deps, params }) {
      if (!(await deleteOwnedWebhook(deps.db, accountOf(ctx).id, params.id))) throw problems.notFound('webhook');
      ctx.status = 204;
    },
  }),
  endpoint({
    method: 'post', path: '/v1/webhooks/{id}/rotate-secret', summary: 'Replace the signing secret (shown once)', auth: 'account',
    responses: { 200: json(webhookSecretSchema, 'The new secret') },
    problems: noSuchWebhook,
    async handle({ ctx, webhooks, params }) {
      ctx.body = { secret: await webhooks.rotateSecret(accountOf(ctx).id, params.id) };
    },
  }),
  endpoint({
    method: 'get', path: '/v1/webhooks/{id}/deliveries', summary: 'The webhook\'s delivery log, newest first', auth: 'account',
    query: listQuerySchema,
    responses: { 200: json(pageOf(webhookDeliverySchema), 'A page of deliveries') },
    problems: { 400: 'Invalid query or cursor', ...noSuchWebhook },
    async handle({ ctx, deps, params, query }) {
      const webhook = await ownedWebhook(deps, ctx, params.id);
      const q = query();
      const rows = await listOwnedDeliveries(deps.db, accountOf(ctx).id, webhook.id, { limit: q.limit, beforeSeq: decodeCursor(q.cursor) });
      ctx.body = { data: rows.map(toDeliveryView), nextCursor: page(rows, q.limit, (r) => r.seq).nextCursor };
    },
  }),
  endpoint({
    method: 'post', path: '/v1/webhooks/{id}/deliveries/{deliveryId}/retry', summary: 'Send a delivery again (same webhook-id)', auth: 'account',
    responses: { 202: json(webhookDeliverySchema, 'Queued again') },
    problems: {
      404: 'No such delivery',
      429: 'The delivery was sent again as often as allowed (too-many-redeliveries)',
    },
    async handle({ ctx, webhooks, params }) {
      const row = await webhooks.redeliver(accountOf(ctx).id, params.id, params.deliveryId);
      ctx.status = 202;
      ctx.body = toDeliveryView(row);
    },
  }),
];
