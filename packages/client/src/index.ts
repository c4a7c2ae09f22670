export { Runway, isTerminal, runStatuses } from './client.js';
export type {
  Account, LedgerEntry, CreateRun, CreateSession, CreateToken, CreateWebhook, CreatedToken, CreatedWebhook, Run, RunAccepted, RunStatus,
  Session, SessionRequest, SessionStatus, SessionRequestAccepted, UpdateWebhook, Webhook, WebhookDelivery,
} from './client.js';
export { RunwayError } from './errors.js';
export type { RunwayOptions } from './http.js';
export { textOf, type RunwayEvent, type StreamOptions } from './stream.js';
export { verifyWebhook, type WebhookEvent } from './webhooks.js';
export type { components, paths } from './api-types.js';
