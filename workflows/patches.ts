/**
 * Every patch id still asked in Runway's workflows, with the condition for its removal. Only the
 * long-lived workflows (sessions, webhook deliveries) take patches: a run workflow is short and is
 * changed outright, since 0.1 → 0.2 drains open runs (README, Development).
 *
 * Each id below is deprecated (`deprecatePatch`): the workflows take only the new path, and a
 * history that recorded the marker still replays. It may be deleted, with its `deprecatePatch`
 * call, once no open workflow has that marker in its history: one namespace retention after the
 * last worker that asked `patched()` for it (0.1) stopped, or at once when every session and
 * delivery open then has ended.
 */
export const PATCHES = {
  /** Session workflow, 2026-11: a session publishes `request.completed` one at a time. */
  orderedCompletions: 'ordered-completions',
  /** Session workflow, 2026-12: closing a session cancels its workspace preparation. */
  cancellablePrepare: 'cancellable-session-prepare',
  /** Session workflow, 2026-12: a closing session writes its last `request.completed` before `session.closed` and `end`. */
  completionsBeforeClose: 'completions-before-close',
  /** Session workflow, 2026-12: a session with nothing queued or running closes itself after its idle timeout. */
  sessionIdleTimeout: 'session-idle-timeout',
  /**
   * Webhook delivery workflow, 2026-12: a retry at least `parkAfterMs` away is parked in
   * PostgreSQL and the workflow ends (the dispatcher starts the next attempt's workflow when due).
   */
  webhookParking: 'webhook-parking',
} as const;

export type PatchId = (typeof PATCHES)[keyof typeof PATCHES];
