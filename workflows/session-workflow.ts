import {
  ActivityCancellationType,
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  deprecatePatch,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { RunwayActivities } from '../activities';
import { closeSessionSignal, requestFinishedSignal, requestReadySignal, sessionStateQuery } from './definitions';
import { PATCHES } from './patches';
import { SessionQueue } from './session-queue';
import { CLEANUP_ATTEMPTS, type SessionCarry, type SessionWorkflowInput } from './types';

const RETRY = { initialInterval: '500 ms', backoffCoefficient: 2, maximumInterval: '30 seconds' } as const;
/** The session's database steps: idempotent, retried for a bounded time (about half an hour). */
const { recordSessionEvent, recordSessionError, closeSessionRecord, markSessionClosing } = proxyActivities<RunwayActivities>({
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

const fresh = (): SessionCarry => ({ queue: [], active: null, finished: [], workspacePath: null, prepared: false, closing: false });

/**
 * A session: a long-lived entity whose requests (ordinary runs, admitted with their own
 * reservation) execute one at a time in admission order. The session grants turns, stops what its
 * multitask mode or a close demands, owns the shared workspace, and publishes `request.completed`.
 * Its history stays bounded by continuing as new between requests.
 */
export async function sessionWorkflow(input: SessionWorkflowInput): Promise<void> {
  const requests = new SessionQueue(input.carried ?? fresh(), input.multitask);
  const { s } = requests;
  /** A preparation under way: closing the session cancels it. */
  let preparation: CancellationScope | undefined;

  setHandler(sessionStateQuery, () => requests.state());
  setHandler(requestReadySignal, ({ runId, seq }) => requests.ready(runId, seq));
  setHandler(requestFinishedSignal, ({ runId, status }) =>
    requests.finished(runId, () => recordSessionEvent({ sessionId: input.sessionId, type: 'request.completed', runId, status })),
  );
  setHandler(closeSessionSignal, () => {
    requests.close();
    preparation?.cancel();
  });

  if (input.workspace && !s.prepared) {
    deprecatePatch(PATCHES.cancellablePrepare);
    preparation = new CancellationScope();
    await prepare(input, s, preparation);
    preparation = undefined;
  }

  while (!s.closing) {
    if (await requests.advance({ workspacePath: s.workspacePath, taskQueue: s.workspaceTaskQueue ?? null })) continue;
    if (requests.shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof sessionWorkflow>({ ...input, carried: s });
    }
    const seen = requests.changes;
    const changed = () => requests.changes !== seen;
    // Nothing queued or running: after its idle timeout the session closes itself, as a close
    // would (a session kept open for ever holds one of its account's and its user's slots).
    if (requests.idle()) {
      deprecatePatch(PATCHES.sessionIdleTimeout);
      if (!(await condition(changed, input.idleTimeoutMs))) {
        log.info('session idle for its timeout; closing', { sessionId: input.sessionId });
        // First in the database, as DELETE does: a request sent meanwhile is refused (409), not
        // admitted and then stopped.
        await markSessionClosing({ sessionId: input.sessionId });
        requests.close();
      }
    } else {
      await condition(changed);
    }
  }
  await close(input, requests);
}

/** Prepares the session's workspace once, for all its requests; without it the session closes. */
async function prepare(input: SessionWorkflowInput, s: SessionCarry, scope: CancellationScope): Promise<void> {
  const workspace = input.workspace;
  if (!workspace) return;
  try {
    const prepared = await scope.run(() => prepareSessionWorkspace({ sessionId: input.sessionId, workspace }));
    s.workspacePath = prepared.path;
    s.workspaceTaskQueue = prepared.taskQueue ?? null;
    s.prepared = true;
  } catch (err) {
    // It says why (unless a close cancelled the preparation) and closes, refunding its queue.
    if (s.closing && isCancellation(err)) log.info('workspace preparation cancelled by close', { sessionId: input.sessionId });
    else await recordSessionError({ sessionId: input.sessionId, ...sessionErrorOf(err) });
    s.closing = true;
  }
}

/**
 * Closing: stop whatever runs or waits, wait for them to finish, then remove the workspace and
 * end the session's event stream.
 */
async function close(input: SessionWorkflowInput, requests: SessionQueue): Promise<void> {
  const { s } = requests;
  await requests.stopAll('session closed');
  await condition(() => requests.idle(), '10 minutes');
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
  deprecatePatch(PATCHES.completionsBeforeClose);
  await requests.allPublished();
  await closeSessionRecord({ sessionId: input.sessionId });
  await condition(allHandlersFinished);
}

function sessionErrorOf(err: unknown): { code: string; message: string } {
  const failure = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
  return { code: failure?.type ?? 'workspace_failed', message: failure?.message ?? String(err) };
}
