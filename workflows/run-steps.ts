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
/**
 * A tool call: bounded by the tool's own limits (a command's timeout, an MCP call's), so the
 * step's timeout only catches a dead worker; its failures are results, so its retries are for
 * a lost worker or database, a few times.
 */
const TOOL: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '5 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 5 },
};
/** Settling, the refund itself, gives up after a day. */
const SETTLE: ActivityOptions = { ...SHORT, scheduleToCloseTimeout: '1 day' };

/**
 * Settling is a quick, idempotent database transaction: a local activity, run by the worker that
 * runs the workflow inside its workflow task (a retry after a worker crash re-runs it in the next
 * workflow task), so it costs the Temporal server no activity task.
 */
export const { settleRun } = proxyLocalActivities<RunwayActivities>(SETTLE);
export const { prepareWorkspace } = proxyActivities<RunwayActivities>(LONG);
/**
 * Listing an agent run's MCP tools: a server that does not answer is given up on within the
 * activity (it offers nothing); the step itself only retries database trouble.
 */
export const { listRunTools } = proxyActivities<RunwayActivities>({ ...SHORT, startToCloseTimeout: '2 minutes', scheduleToCloseTimeout: '10 minutes' });

/**
 * The steps that use a workspace run on the host that holds it (its own task queue), or on any
 * worker when there is no workspace. A host that never comes back fails the step after a while
 * instead of holding the run forever.
 */
export function stepsOn(taskQueue: string | null | undefined) {
  // Activity proxies have no own properties: pick the functions, never spread a proxy.
  const long = proxyActivities<RunwayActivities>(taskQueue ? { ...LONG, taskQueue, scheduleToStartTimeout: '5 minutes' } : LONG);
  const cleanup = proxyActivities<RunwayActivities>(taskQueue ? { ...CLEANUP, taskQueue, scheduleToStartTimeout: '1 minute' } : CLEANUP);
  const tool = proxyActivities<RunwayActivities>(taskQueue ? { ...TOOL, taskQueue, scheduleToStartTimeout: '5 minutes' } : TOOL);
  return { executeModel: long.executeModel, runTool: tool.runTool, cleanupWorkspace: cleanup.cleanupWorkspace };
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
