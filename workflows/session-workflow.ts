import {
  ActivityCancellationType,
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { RunwayActivities } from '../activities';
import {
  closeSessionSignal,
  requestFinishedSignal,
  requestReadySignal,
  sessionStateQuery,
  stopSignal,
  turnSignal,
} from './definitions';
import { PATCHES } from './patches';
import { CLEANUP_ATTEMPTS, type SessionCarry, type SessionWorkflowInput } from './types';

const RETRY = { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '30 seconds' } as const;
/** The session's database steps: idempotent, retried for a bounded time (about half an hour). */
const { recordSessionEvent, recordSessionError, closeSessionRecord } = proxyActivities<RunwayActivities>({
  startToCloseTimeout: '1 minute',
  retry: { ...RETRY, maximumAttempts: 60 },
});
/** The workspace, as a run's: a few attempts, heartbeats carry a close's cancellation to it. */
const WORKSPACE = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...RETRY, maximumAttempts: 5 },
} as const;
const { prepareSessionWorkspace } = proxyActivities<RunwayActivities>(WORKSPACE);
const CLEANUP = { ...WORKSPACE, retry: { ...RETRY, maximumAttempts: CLEANUP_ATTEMPTS } };
const { cleanupSessionWorkspace } = proxyActivities<RunwayActivities>(CLEANUP);

/** Requests handled before the history is handed to a fresh execution (continue-as-new). */
const REQUESTS_PER_HISTORY = 200;
const FINISHED_REMEMBERED = 100;

function sessionErrorOf(err: unknown): { code: string; message: string } {
  const failure = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
  return { code: failure?.type ?? 'workspace_failed', message: failure?.message ?? String(err) };
}

/**
 * A session: a long-lived entity whose requests (ordinary runs, admitted with their own
 * reservation) execute one at a time in admission order. The session grants turns, stops what its
 * multitask mode or a close demands, owns the shared workspace, and publishes `request.completed`.
 * Its history stays bounded by continuing as new between requests.
 */
export async function sessionWorkflow(input: SessionWorkflowInput): Promise<void> {
  const s: SessionCarry = input.carried ?? { queue: [], active: null, finished: [], workspacePath: null, prepared: false, closing: false };
  let handled = 0;
  /** Bumped by every message, so the main loop wakes up exactly when something changed. */
  let changes = 0;
  const stopping = new Set<string>();

  const stopRun = async (runId: string, reason: string) => {
    if (stopping.has(runId)) return;
    stopping.add(runId);
    // A run that has ended already cannot be reached, and needs no stop.
    await getExternalWorkflowHandle(runId)
      .signal(stopSignal, { reason })
      .catch((err: unknown) => log.info('stop not delivered', { runId, error: String(err) }));
  };

  setHandler(sessionStateQuery, () => ({
    active: s.active,
    queued: s.queue.map((q) => q.runId),
    closing: s.closing,
    multitask: input.multitask,
  }));

  setHandler(requestReadySignal, ({ runId, seq }) => {
    changes++;
    if (s.active === runId || s.finished.includes(runId) || s.queue.some((q) => q.runId === runId)) return;
    if (s.closing) {
      void stopRun(runId, 'session closed');
      return;
    }
    const at = s.queue.findIndex((q) => q.seq > seq);
    s.queue.splice(at === -1 ? s.queue.length : at, 0, { runId, seq });
  });

  /** The last `request.completed` publication: each waits for the one before it. */
  let published: Promise<void> = Promise.resolve();
  setHandler(requestFinishedSignal, async ({ runId, status }) => {
    changes++;
    if (s.active === runId) s.active = null;
    s.queue = s.queue.filter((q) => q.runId !== runId);
    stopping.delete(runId);
    if (s.finished.includes(runId)) return;
    s.finished = [...s.finished, runId].slice(-FINISHED_REMEMBERED);
    handled++;
    const publish = () => recordSessionEvent({ sessionId: input.sessionId, type: 'request.completed', runId, status });
    if (!patched(PATCHES.orderedCompletions)) return publish();
    // In completion order, even when an earlier publication is being retried.
    const mine = published.then(publish);
    // A publication that failed for good is logged once, here; the next ones still go out.
    published = mine.catch((err: unknown) => log.error('request.completed not published', { runId, error: String(err) }));
    await published;
  });

  /** A preparation under way: closing the session cancels it. */
  let preparation: CancellationScope | undefined;
  setHandler(closeSessionSignal, () => {
    changes++;
    s.closing = true;
    preparation?.cancel();
  });

  if (input.workspace && !s.prepared) {
    const workspace = input.workspace;
    const prepare = () => prepareSessionWorkspace({ sessionId: input.sessionId, workspace });
    try {
      if (patched(PATCHES.cancellablePrepare)) preparation = new CancellationScope();
      const prepared = await (preparation ? preparation.run(prepare) : prepare());
      s.workspacePath = prepared.path;
      s.workspaceTaskQueue = prepared.taskQueue ?? null;
      s.prepared = true;
    } catch (err) {
      // Without its workspace the session cannot serve: it says why (unless a close cancelled the
      // preparation) and closes, refunding its queue.
      if (s.closing && isCancellation(err)) log.info('workspace preparation cancelled by close', { sessionId: input.sessionId });
      else await recordSessionError({ sessionId: input.sessionId, ...sessionErrorOf(err) });
      s.closing = true;
    } finally {
      preparation = undefined;
    }
  }

  while (!s.closing) {
    // In interrupt mode the newest request wins: the running one and older waiting ones stop.
    const newest = s.queue[s.queue.length - 1];
    if (input.multitask === 'interrupt' && newest) {
      if (s.active) void stopRun(s.active, 'interrupted by a newer request');
      for (const q of s.queue) if (q !== newest) void stopRun(q.runId, 'interrupted by a newer request');
    }
    // A request being stopped gets no turn: it is about to report itself finished.
    const next = s.queue.find((q) => !stopping.has(q.runId));
    if (s.active === null && next) {
      s.queue = s.queue.filter((q) => q !== next);
      s.active = next.runId;
      await getExternalWorkflowHandle(next.runId)
        .signal(turnSignal, { workspacePath: s.workspacePath, taskQueue: s.workspaceTaskQueue ?? null })
        .catch((err: unknown) => {
          log.warn('turn not delivered; the run is gone', { runId: next.runId, error: String(err) });
          s.active = null;
        });
      continue;
    }
    if (s.active === null && s.queue.length === 0 && (handled >= REQUESTS_PER_HISTORY || workflowInfo().continueAsNewSuggested)) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof sessionWorkflow>({ ...input, carried: s });
    }
    const seen = changes;
    await condition(() => changes !== seen);
  }

  // Closing: stop whatever runs or waits (each is charged for what it used and refunded the rest),
  // wait for them to finish, then remove the workspace and end the session's event stream.
  for (const runId of [s.active, ...s.queue.map((q) => q.runId)]) {
    if (runId) await stopRun(runId, 'session closed');
  }
  await condition(() => s.active === null && s.queue.length === 0, '10 minutes');
  if (input.workspace) {
    // On the host that holds the workspace; a host that is gone keeps its files.
    const onHost = s.workspaceTaskQueue
      ? proxyActivities<RunwayActivities>({ ...CLEANUP, scheduleToStartTimeout: '1 minute', taskQueue: s.workspaceTaskQueue })
      : { cleanupSessionWorkspace };
    await onHost
      .cleanupSessionWorkspace({ sessionId: input.sessionId })
      .catch((err: unknown) => log.error('session workspace not removed', { sessionId: input.sessionId, error: String(err) }));
  }
  // `end` closes the session's stream: every `request.completed` must be written before it.
  if (patched(PATCHES.completionsBeforeClose)) await published;
  await closeSessionRecord({ sessionId: input.sessionId });
  await condition(allHandlersFinished);
}
