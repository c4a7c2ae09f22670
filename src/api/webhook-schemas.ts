import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { WebhookDeliveryRow, WebhookEndpointRow } from '../db/schema';
import { WEBHOOK_EVENT_TYPES } from '../db/webhook-payload';

extendZodWithOpenApi(z);

const eventsSchema = z
  .array(z.enum(WEBHOOK_EVENT_TYPES))
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length * 2)
  .describe('Events to receive; default: all of run.succeeded, run.failed, run.stopped');
const urlSchema = z.string().min(1).max(2048).describe('https URL of a public host (checked at registration and at every attempt)');
const descriptionSchema = z.string().max(500).nullable();

export const createWebhookSchema = z
  .object({ url: urlSchema, events: eventsSchema.optional(), description: descriptionSchema.optional() })
  .strict()
  .openapi('CreateWebhook');

export const updateWebhookSchema = z
  .object({
    url: urlSchema.optional(),
    events: eventsSchema.optional(),
    description: descriptionSchema.optional(),
    disabled: z.boolean().optional().describe('false re-enables an endpoint disabled by a 410'),
  })
  .strict()
  .openapi('UpdateWebhook');

export const webhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
    description: z.string().nullable(),
    disabled: z.boolean(),
    createdAt: z.string(),
  })
  .openapi('Webhook');

export const createdWebhookSchema = webhookSchema
  .extend({ secret: z.string().describe('whsec_<base64>: shown only here and on rotation') })
  .openapi('CreatedWebhook');

export const webhookSecretSchema = z.object({ secret: z.string() }).openapi('WebhookSecret');

export const webhookDeliverySchema = z
  .object({
    id: z.string().describe('Sent as webhook-id on every attempt: the receiver\'s idempotency key'),
    eventType: z.enum(WEBHOOK_EVENT_TYPES),
    runId: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: z.string().nullable(),
    createdAt: z.string(),
    deliveredAt: z.string().nullable(),
  })
  .openapi('WebhookDelivery');

export type WebhookView = z.infer<typeof webhookSchema>;
export type WebhookDeliveryView = z.infer<typeof webhookDeliverySchema>;

export function toWebhookView(row: WebhookEndpointRow): WebhookView {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    disabled: row.disabled,
    createdAt: row.created_at.toISOString(),
  };
}

export function toDeliveryView(row: WebhookDeliveryRow): WebhookDeliveryView {
  return {
    id: row.id,
    eventType: row.event_type,
    runId: row.run_id,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    deliveredAt: row.delivered_at?.toISOString() ?? null,
  };
}
