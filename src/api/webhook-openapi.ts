import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { listQuerySchema, pageOf } from './schemas';
import {
  createdWebhookSchema,
  createWebhookSchema,
  updateWebhookSchema,
  webhookDeliverySchema,
  webhookSchema,
  webhookSecretSchema,
} from './webhook-schemas';
import { json, problem } from './openapi-parts';

const common = {
  401: problem('Missing or wrong API key'),
  404: problem('No such webhook (or another account\'s: indistinguishable)'),
};

/** The webhook operations of /openapi.json. */
export function registerWebhookPaths(registry: OpenAPIRegistry, security: Record<string, string[]>[]): void {
  const idParam = z.object({ id: z.string() });
  const body = <T extends z.ZodTypeAny>(schema: T) => ({ content: { 'application/json': { schema } } });
  registry.registerPath({
    method: 'post', path: '/v1/webhooks', summary: 'Register a completion webhook (the secret is shown once)', security,
    request: { body: body(createWebhookSchema) },
    responses: {
      201: json(createdWebhookSchema, 'Created'),
      400: problem('Invalid input, unknown event, or a URL that is not https or reaches a private address (invalid-webhook-url)'),
      401: common[401],
      429: problem('Too many webhook endpoints for this account (too-many-webhooks)'),
    },
  });
  registry.registerPath({
    method: 'get', path: '/v1/webhooks', summary: 'The caller\'s webhooks, newest first (no secrets)', security,
    request: { query: listQuerySchema },
    responses: { 200: json(pageOf(webhookSchema), 'A page of webhooks'), 400: problem('Invalid query or cursor'), 401: common[401] },
  });
  registry.registerPath({
    method: 'get', path: '/v1/webhooks/{id}', summary: 'One webhook', security,
    request: { params: idParam },
    responses: { 200: json(webhookSchema, 'The webhook'), ...common },
  });
  registry.registerPath({
    method: 'patch', path: '/v1/webhooks/{id}', summary: 'Change a webhook, or re-enable a disabled one', security,
    request: { params: idParam, body: body(updateWebhookSchema) },
    responses: { 200: json(webhookSchema, 'The webhook'), 400: problem('Invalid input or URL'), ...common },
  });
  registry.registerPath({
    method: 'delete', path: '/v1/webhooks/{id}', summary: 'Delete a webhook and its delivery log', security,
    request: { params: idParam },
    responses: { 204: { description: 'Deleted' }, ...common },
  });
  registry.registerPath({
    method: 'post', path: '/v1/webhooks/{id}/rotate-secret', summary: 'Replace the signing secret (shown once)', security,
    request: { params: idParam },
    responses: { 200: json(webhookSecretSchema, 'The new secret'), ...common },
  });
  registry.registerPath({
    method: 'get', path: '/v1/webhooks/{id}/deliveries', summary: 'The webhook\'s delivery log, newest first', security,
    request: { params: idParam, query: listQuerySchema },
    responses: { 200: json(pageOf(webhookDeliverySchema), 'A page of deliveries'), 400: problem('Invalid query or cursor'), ...common },
  });
  registry.registerPath({
    method: 'post', path: '/v1/webhooks/{id}/deliveries/{deliveryId}/retry', summary: 'Send a delivery again (same webhook-id)', security,
    request: { params: z.object({ id: z.string(), deliveryId: z.string() }) },
    responses: {
      202: json(webhookDeliverySchema, 'Queued again'),
      401: common[401],
      404: problem('No such delivery'),
      429: problem('The delivery was sent again as often as allowed (too-many-redeliveries)'),
    },
  });
}
