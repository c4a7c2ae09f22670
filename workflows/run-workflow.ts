import {
  ActivityCancellationType,
  type ActivityOptions,
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { RunwayActivities } from '../activities';
import {
  admitUpdate,
  progressSignal,
  requestFinishedSignal,
  requestReadySignal,
  statusQuery,
  stopSignal,
  turnSignal,
} from './definitions';
import { PATCHES } from './patches';
import {
  CLEANUP_ATTEMPTS,
  RUNWAY_STATUS,
  STOPPED_ERROR,
  type Admission,
  type RunError,
  type RunResult,
  type RunState,
  type RunStatus,
  type RunStep,
  type RunWorkflowInput,
  type TerminalStatus,
  type TurnGrant,
} from './types';

/** Quick database steps: retried fast, for a bounded time, since they are idempotent. */
const DB_RETRY = { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '30 seconds' } as const;
const SHORT: ActivityOptions = { startToCloseTimeout: '30 seconds', retry: DB_RETRY };
/** A workspace removal that keeps failing (its host's disk, a path the OS refuses) is given up on. */
const CLEANUP: ActivityOptions = { startToCloseTimeout: '5 minutes', retry: { ...DB_RETRY, maximumAttempts: CLEANUP_ATTEMPTS } };
/** Long steps: heartbeat so a dead worker is noticed within seconds, and wait for their clean-up on stop. */
const LONG: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '5 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
};
/**
 * The same quick database steps as local activities: run by the worker that runs the workflow,
 * inside its workflow task, so a run costs the Temporal server two workflow tasks and one
 * activity instead of six and four. Safe because both are idempotent (a retry after a worker
 * crash re-runs them in the next workflow task). Admission gives up after an hour (the run then
 * ends as failed and refunded); settling, which is the refund, keeps trying for a day.
 */
const local = {
  reserveCredits: proxyLocalActivities<RunwayActivities>({ ...SHORT, scheduleToCloseTimeout: '1 hour' }).reserveCredits,
  settleRun: proxyLocalActivities<RunwayActivities>({ ...SHORT, scheduleToCloseTimeout: '1 day' }).settleRun,
};
const remote = {
  reserveCredits: proxyActivities<RunwayActivities>({ ...SHORT, scheduleToCloseTimeout: '1 hour' }).reserveCredits,
  settleRun: proxyActivities<RunwayActivities>({ ...SHORT, scheduleToCloseTimeout: '1 day' }).settleRun,
};
const { prepareWorkspace } = proxyActivities<RunwayActivities>(LONG);
/**
 * How long a session request waits for its turn before telling the session itself that it is
 * ready. The API tells the session before replying; this covers an API process that died between
 * admission and that signal. Telling it at once, as well, made the run's signal contend with the
 * API's (and the session's turn) for the session's lock in the server (see the changelog).
 */
const ANNOUNCE_FALLBACK = '10 seconds';
/** While it waits, a session request asks again now and then: a session that is gone ends it. */
const REANNOUNCE_EVERY = '10 minutes';
/** The error of a session request whose session ended before its turn. */
const SESSION_GONE: RunError = { code: 'session_closed', message: 'the session ended before this request got its turn' };
/** The error of a run whose admitted row holds another request body than its own input. */
const KEY_RACE: RunError = {
  code: 'idempotency_conflict',
  message: 'a concurrent request with the same Idempotency-Key and another body was admitted under this id; nothing was executed',
};

/**
 * The steps that use a workspace run on the host that holds it (its own task queue), or on any
 * worker when there is no workspace. A host that never comes back fails the step after a while
 * instead of holding the run forever.
 */
function stepsOn(taskQueue: string | null | undefined) {
  // Activity proxies have no own properties: pick the functions, never spread a proxy.
  const long = proxyActivities<RunwayActivities>(taskQueue ? { ...LONG, taskQueue, scheduleToStartTimeout: '5 minutes' } : LONG);
  const cleanup = proxyActivities<RunwayActivities>(taskQueue ? { ...CLEANUP, taskQueue, scheduleToStartTimeout: '1 minute' } : CLEANUP);
  return { executeModel: long.executeModel, cleanupWorkspace: cleanup.cleanupWorkspace };
}

/** Turns an activity failure into the run's `error` shown to clients. */
function runErrorOf(err: unknown): RunError {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    return { code: cause.type ?? 'internal_error', message: cause.message };
  }
  if (cause instanceof TimeoutFailure) return { code: 'timeout', message: 'a step took too long' };
  return { code: 'internal_error', message: err instanceof Error ? err.message : String(err) };
}

/**
 * One run, as a saga: reserve → prepare → execute → settle → cleanup. Each step that leaves
 * something behind pushes its compensation; on failure or stop they run in reverse order, out of
 * reach of cancellation, so a stopped run is always refunded and cleaned.
 */
export async function runWorkflow(input: RunWorkflowInput): Promise<RunResult> {
  const state: RunState = { status: 'queued', step: 'reserve', progress: null, attempt: 1 };
  let admission: Admission | undefined;
  let stopRequested = false;
  /** Why the run is stopped when the stop did not come from a client. */
  let stopError: RunError = STOPPED_ERROR;
  const work = new CancellationScope();
  const TERMINAL: RunStatus[] = ['succeeded', 'failed', 'stopped'];

  const enter = (status: RunStatus, step: RunStep) => {
    state.step = step;
    state.progress = null;
    state.attempt = 1;
    // Once a stop is asked for, the run reads `stopping` until it reaches its terminal status.
    const shown = stopRequested && !TERMINAL.includes(status) ? 'stopping' : status;
    if (shown !== state.status) {
      state.status = shown;
      upsertSearchAttributes([{ key: RUNWAY_STATUS, value: shown }]);
    }
  };

  // Admission no longer goes through this update (see RunStarter); the handler stays so that runs
  // admitted by update-with-start, and their recorded histories, still replay.
  setHandler(admitUpdate, async () => {
    await condition(() => admission !== undefined);
    return admission as Admission;
  });
  setHandler(statusQuery, () => state);
  let turn: TurnGrant | undefined;
  setHandler(turnSignal, (grant) => {
    turn = grant;
  });
  setHandler(progressSignal, (report) => {
    if (report.step !== state.step) return;
    state.attempt = report.attempt;
    if (report.progress !== undefined) state.progress = report.progress;
  });
  setHandler(stopSignal, () => {
    if (stopRequested || state.step === 'settle' || state.step === 'cleanup' || state.step === 'done') return;
    stopRequested = true;
    state.status = 'stopping';
    upsertSearchAttributes([{ key: RUNWAY_STATUS, value: 'stopping' }]);
    work.cancel();
  });

  /** Ends the run without running it: whatever was reserved is refunded (nothing, if nothing was). */
  const endUnrun = async (error: RunError): Promise<RunResult> => {
    await CancellationScope.nonCancellable(() => settleRun({ runId: input.runId, status: 'failed', error, truncated: false }));
    enter('failed', 'done');
    await condition(allHandlersFinished);
    return { status: 'failed', error, truncated: false };
  };

  // The reservation's compensation is its refund, which settling with a failure performs; it is
  // known before the debit is attempted because the debit may land even if the call times out.
  const compensations: (() => Promise<void>)[] = [];
  const localSteps = patched(PATCHES.localDbSteps);
  const { reserveCredits, settleRun } = localSteps ? local : remote;
  try {
    admission = await reserveCredits(input);
  } catch (err) {
    log.error('admission failed for good', { runId: input.runId, error: runErrorOf(err) });
    return endUnrun(runErrorOf(err));
  }
  if (!admission.admitted) {
    await condition(allHandlersFinished);
    return { status: 'rejected', reason: admission.reason };
  }
  // The row is what was admitted and billed; an input that is not that request never executes.
  if (admission.requestHash !== input.requestHash && patched(PATCHES.admittedBody)) return endUnrun(KEY_RACE);

  // A session request waits for its turn; the session learns of it once its credits are reserved.
  const session = input.sessionId ? getExternalWorkflowHandle(input.sessionId) : undefined;
  /** Whether the session got the message: a session that has ended cannot. */
  const tellSession = async (notify: () => Promise<void>): Promise<boolean> =>
    CancellationScope.nonCancellable(() =>
      notify().then(
        () => true,
        (err: unknown) => {
          log.warn('session not reached', { runId: input.runId, sessionId: input.sessionId, error: String(err) });
          return false;
        },
      ),
    );
  const announce = async (): Promise<boolean> =>
    session ? tellSession(() => session.signal(requestReadySignal, { runId: input.runId, seq: admission?.seq ?? 0 })) : true;
  /** Asks for a turn until one comes; a session that can no longer be reached ends the request. */
  const awaitTurnAnnouncing = async () => {
    for (;;) {
      if (!(await announce())) {
        stopRequested = true;
        stopError = SESSION_GONE;
        throw new CancelledFailure('the session has ended');
      }
      if (await condition(() => turn !== undefined, REANNOUNCE_EVERY)) return;
    }
  };
  const announceLate = session !== undefined && patched(PATCHES.lateAnnounce);
  if (session && !announceLate) await announce();

  let truncated = false;
  let workspacePath: string | null = null;
  let hostQueue: string | null = null;
  try {
    await work.run(async () => {
      if (session) {
        if (announceLate && !(await condition(() => turn !== undefined, ANNOUNCE_FALLBACK))) {
          if (patched(PATCHES.sessionGone)) await awaitTurnAnnouncing();
          else await announce();
        }
        await condition(() => turn !== undefined);
        workspacePath = turn?.workspacePath ?? null;
        hostQueue = turn?.taskQueue ?? null;
      }
      // Without a workspace there is nothing to prepare: such a run goes from queued to running.
      if (input.workspace || !localSteps) {
        enter('preparing', 'prepare');
        // Registered first: a failed or stopped preparation may leave a partial workspace behind.
        if (input.workspace) compensations.unshift(() => stepsOn(hostQueue).cleanupWorkspace({ runId: input.runId }));
        const prepared = await prepareWorkspace({ runId: input.runId, workspace: input.workspace });
        workspacePath = prepared.path ?? workspacePath;
        hostQueue = prepared.taskQueue ?? hostQueue;
      }

      enter('running', 'execute');
      // Model, price and caps come from the admitted row (see executeModel).
      const executed = await stepsOn(hostQueue).executeModel({
        runId: input.runId,
        sealedSecrets: input.sealedSecrets,
        workspacePath,
      });
      truncated = executed.truncated;
      if (executed.stopped) {
        // The worker heard of the stop before its signal arrived here: end the run as stopped.
        stopRequested = true;
        throw new CancelledFailure('the run was stopped');
      }
    });
  } catch (err) {
    const stopped = stopRequested && isCancellation(err);
    const status: TerminalStatus = stopped ? 'stopped' : 'failed';
    const error: RunError = stopped ? stopError : runErrorOf(err);
    await CancellationScope.nonCancellable(async () => {
      enter(state.status, 'cleanup');
      for (const compensate of compensations) {
        // A compensation that cannot finish (its host is gone, its retries are spent) must not
        // keep the refund from happening; the cleanup step records what it left behind.
        await compensate().catch((failure: unknown) =>
          log.error('compensation failed; settling anyway', { runId: input.runId, error: runErrorOf(failure) }),
        );
      }
      enter(status, 'settle');
      await settleRun({ runId: input.runId, status, error, truncated: false });
    });
    enter(status, 'done');
    if (session) await tellSession(() => session.signal(requestFinishedSignal, { runId: input.runId, status }));
    await condition(allHandlersFinished);
    return { status, error, truncated: false };
  }

  enter('succeeded', 'settle');
  await settleRun({ runId: input.runId, status: 'succeeded', error: null, truncated });
  if (workspacePath && !session) {
    enter('succeeded', 'cleanup');
    // The run has succeeded and is settled; a lost host keeps its files.
    await stepsOn(hostQueue)
      .cleanupWorkspace({ runId: input.runId })
      .catch((failure: unknown) => log.error('workspace cleanup failed', { runId: input.runId, error: runErrorOf(failure) }));
  }
  enter('succeeded', 'done');
  if (session) await tellSession(() => session.signal(requestFinishedSignal, { runId: input.runId, status: 'succeeded' }));
  await condition(allHandlersFinished);
  return { status: 'succeeded', error: null, truncated };
}
