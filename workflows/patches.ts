import { patched } from '@temporalio/workflow';

/**
 * Every `patched()` id of Runway's workflows, with when it arrived and when it may go. A patch can
 * be deprecated (`deprecatePatch`) once no open workflow started before it, and removed once no
 * open workflow carries its marker: runs last hours, sessions may last weeks, so wait for the
 * namespace's retention after the release that deprecates it. The replay fixtures of the old
 * shape are removed with the patch.
 */
export const PATCHES = {
  /** 2026-11: reserve and settle became local activities (fixtures `v2-remote-steps-*`). */
  localDbSteps: 'local-db-steps',
  /** 2026-11: a session request announces itself only as a fallback (fixtures `v3-eager-announce-*`). */
  lateAnnounce: 'session-announce-fallback',
  /** 2026-11: a session publishes `request.completed` one at a time. */
  orderedCompletions: 'ordered-completions',
  /**
   * 2026-12: a run whose admitted row holds another body than its own input (a raced
   * Idempotency-Key) ends as failed and refunded instead of executing its input.
   */
  admittedBody: 'admitted-body-check',
  /** 2026-12: a session request whose session is gone ends as stopped; it re-announces itself while it waits. */
  sessionGone: 'session-gone-ends-request',
  /** 2026-12: closing a session cancels its workspace preparation. */
  cancellablePrepare: 'cancellable-session-prepare',
  /** 2026-12: a closing session writes its last `request.completed` before `session.closed` and `end`. */
  completionsBeforeClose: 'completions-before-close',
  /**
   * 2026-12: a run asked to stop ends `stopped` even when its step ended otherwise than by the
   * cancellation (a worker killed while handling it: the step timed out), not `failed`.
   */
  stopWins: 'stop-wins-over-step-failure',
  /** 2026-12: a session with nothing queued or running closes itself after its idle timeout. */
  sessionIdleTimeout: 'session-idle-timeout',
  /**
   * 2026-12: a webhook delivery whose next retry is at least `parkAfterMs` away is parked in
   * PostgreSQL and its workflow ends (the dispatcher starts the next attempt's workflow when due),
   * instead of a durable timer that held its account's in-flight slot for days.
   */
  webhookParking: 'webhook-parking',
} as const;

export type PatchId = (typeof PATCHES)[keyof typeof PATCHES];

/**
 * The patch level (`RunWorkflowInput.patchLevel`) from which a run takes each patch without
 * asking `patched()`. A run started at level N takes every patch up to N from its input, so it
 * records no marker (and no `TemporalChangeVersion` search-attribute upsert, a visibility write)
 * for them; runs without a level, recorded before levels existed, ask `patched()` as they did.
 * A patch added later starts with a level above the current one, until new runs carry it.
 */
const RUN_LEVEL_OF: Partial<Record<PatchId, number>> = {
  [PATCHES.localDbSteps]: 1,
  [PATCHES.lateAnnounce]: 1,
  [PATCHES.admittedBody]: 1,
  [PATCHES.sessionGone]: 1,
};

/** Whether the run takes this patch: from its level, else from `patched()`. */
export function runHasPatch(level: number | undefined, id: PatchId): boolean {
  const from = RUN_LEVEL_OF[id];
  return (from !== undefined && (level ?? 0) >= from) || patched(id);
}
