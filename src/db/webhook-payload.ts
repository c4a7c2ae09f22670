/** A webhook event's stored body: written with the deliveries in the settling transaction, so its shape lives beside them. */
import type { RunRow, WebhookEventType } from './schema';
import type { TerminalStatus } from '../../workflows/types';

/** The events an endpoint may subscribe to: one per terminal status of a run. */
export const WEBHOOK_EVENT_TYPES = ['run.succeeded', 'run.failed', 'run.stopped'] as const satisfies readonly WebhookEventType[];

export function eventTypeOf(status: TerminalStatus): WebhookEventType {
  return `run.${status}`;
}

/** The run's columns an event carries (never its output or prompt). */
export const RUN_EVENT_COLUMNS = [
  'id', 'account_id', 'status', 'model', 'user_id', 'session_id', 'request_id', 'estimate', 'charged', 'refunded',
  'input_tokens', 'output_tokens', 'error', 'metadata', 'user_metadata', 'created_at', 'started_at', 'completed_at',
] as const satisfies readonly (keyof RunRow)[];
export type RunEventFields = Pick<RunRow, (typeof RUN_EVENT_COLUMNS)[number]>;

/**
 * The body of a run's completion event. No output: the receiver fetches the run (the output can
 * be large, and a webhook should not carry it).
 */
export function runEventBody(run: RunEventFields, type: WebhookEventType, timestamp: Date): string {
  return JSON.stringify({
    type,
    timestamp: timestamp.toISOString(),
    data: {
      id: run.id,
      status: run.status,
      model: run.model,
      user: run.user_id,
      sessionId: run.session_id,
      requestId: run.request_id,
      cost: { estimate: run.estimate, charged: run.charged ?? 0, refunded: run.refunded ?? 0 },
      usage: { inputTokens: run.input_tokens, outputTokens: run.output_tokens },
      error: run.error ?? null,
      metadata: run.metadata,
      // Written by a scoped token's holder (an end user), not by the account: never trust it as the tenant's.
      userMetadata: run.user_metadata,
      createdAt: run.created_at.toISOString(),
      startedAt: run.started_at?.toISOString() ?? null,
      completedAt: run.completed_at?.toISOString() ?? null,
    },
  });
}
