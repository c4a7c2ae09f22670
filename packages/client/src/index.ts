export { Runway, isTerminal, runStatuses } from './client.js';
export type {
  Account, LedgerEntry, CreateRun, Page, PagedList, CreateSession, CreateToken, CreateWebhook, CreatedToken, CreatedWebhook, Run, RunAccepted, RunStatus, RunStep,
  Session, SessionRequest, SessionStatus, SessionRequestAccepted, UpdateWebhook, Webhook, WebhookDelivery,
} from './client.js';
export { RunwayError } from './errors.js';
export type { RunwayOptions } from './http.js';
export { isEvent, textOf, type RunEventData, type RunEventOf, type RunwayEvent, type StreamOptions } from './stream.js';
export { verifyWebhook, type WebhookEvent } from './webhooks.js';
export type { components, paths } from './api-types.js';
