/**
 * The run workflow's steps as Temporal schedules them: their options (each bounded, with the
 * reason for its bound) and how their failures read to clients.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  type ActivityOptions,
  ApplicationFailure,
  proxyActivities,
  proxyLocalActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { RunwayActivities } from '../activities';
import { CLEANUP_ATTEMPTS, type RunError } from './types';

/** Quick database steps: retried fast, for a bounded time, since they are idempotent. */
const DB_RETRY = { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '30 seconds' } as const;
const SHORT: ActivityOptions = { startToCloseTimeout: '30 seconds', retry: DB_RETRY };
/**
 * A workspace removal that keeps failing (its host's disk, a path the OS refuses) is given up on;
 * one whose worker died is retried once its heartbeats stop, not after the whole 5 minutes.
 */
const CLEANUP: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { ...DB_RETRY, maximumAttempts: CLEANUP_ATTEMPTS },
};
/** Long steps: heartbeat so a dead worker is noticed within seconds, and wait for their clean-up on stop. */
const LONG: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '5 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
};
/** Admission gives up after an hour (the run then ends failed and refunded); settling, the refund itself, after a day. */
const RESERVE: ActivityOptions = { ...SHORT, scheduleToCloseTimeout: '1 hour' };
const SETTLE: ActivityOptions = { ...SHORT, scheduleToCloseTimeout: '1 day' };

/**
 * The quick database steps as local activities: run by the worker that runs the workflow, inside
 * its workflow task, so a run costs the Temporal server two workflow tasks and one activity
 * instead of six and four. Safe because both are idempotent (a retry after a worker crash re-runs
 * them in the next workflow task).
 */
export const localDbSteps = {
  reserveCredits: proxyLocalActivities<RunwayActivities>(RESERVE).reserveCredits,
  settleRun: proxyLocalActivities<RunwayActivities>(SETTLE).settleRun,
};
/** The same steps as ordinary activities, as runs recorded before local steps scheduled them. */
export const remoteDbSteps = {
  reserveCredits: proxyActivities<RunwayActivities>(RESERVE).reserveCredits,
  settleRun: proxyActivities<RunwayActivities>(SETTLE).settleRun,
};
export const { prepareWorkspace } = proxyActivities<RunwayActivities>(LONG);

/**
 * The steps that use a workspace run on the host that holds it (its own task queue), or on any
 * worker when there is no workspace. A host that never comes back fails the step after a while
 * instead of holding the run forever.
 */
export function stepsOn(taskQueue: string | null | undefined) {
  // Activity proxies have no own properties: pick the functions, never spread a proxy.
  const long = proxyActivities<RunwayActivities>(taskQueue ? { ...LONG, taskQueue, scheduleToStartTimeout: '5 minutes' } : LONG);
  const cleanup = proxyActivities<RunwayActivities>(taskQueue ? { ...CLEANUP, taskQueue, scheduleToStartTimeout: '1 minute' } : CLEANUP);
  return { executeModel: long.executeModel, cleanupWorkspace: cleanup.cleanupWorkspace };
}

/** Turns an activity failure into the run's `error` shown to clients. */
export function runErrorOf(err: unknown): RunError {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    return { code: cause.type ?? 'internal_error', message: cause.message };
  }
  if (cause instanceof TimeoutFailure) return { code: 'timeout', message: 'a step took too long' };
  return { code: 'internal_error', message: err instanceof Error ? err.message : String(err) };
}

/** The error of a run whose admitted row holds another request body than its own input. */
export const KEY_RACE: RunError = {
  code: 'idempotency_conflict',
  message: 'a concurrent request with the same Idempotency-Key and another body was admitted under this id; nothing was executed',
};
