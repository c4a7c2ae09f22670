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
  type LocalActivityOptions,
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
import {
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

/** Quick database steps: retried fast and for a long time, since they are idempotent. */
const SHORT: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '10 seconds' },
};
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
 * crash re-runs them in the next workflow task).
 */
const LOCAL: LocalActivityOptions = { startToCloseTimeout: '30 seconds', retry: SHORT.retry };
const remote = proxyActivities<RunwayActivities>(SHORT);
const local = proxyLocalActivities<RunwayActivities>(LOCAL);
const { prepareWorkspace } = proxyActivities<RunwayActivities>(LONG);
/** Runs started before local steps (recorded histories) keep their scheduled activities. */
export const LOCAL_STEPS_PATCH = 'local-db-steps';
/** Session requests recorded before the run announced itself only as a fallback. */
export const LATE_ANNOUNCE_PATCH = 'session-announce-fallback';
/**
 * How long a session request waits for its turn before telling the session itself that it is
 * ready. The API tells the session before replying; this covers an API process that died between
 * admission and that signal. Telling it at once, as well, made the run's signal contend with the
 * API's (and the session's turn) for the session's lock in the server: about one follow-up in
 * twenty waited ~500 ms, the server's lock timeout for its own tasks, for its 202.
 */
const ANNOUNCE_FALLBACK = '10 seconds';

/**
 * The steps that use a workspace run on the host that holds it (its own task queue), or on any
 * worker when there is no workspace. A host that never comes back fails the step after a while
 * instead of holding the run forever.
 */
function stepsOn(taskQueue: string | null | undefined) {
  // Activity proxies have no own properties: pick the functions, never spread a proxy.
  const long = proxyActivities<RunwayActivities>(taskQueue ? { ...LONG, taskQueue, scheduleToStartTimeout: '5 minutes' } : LONG);
  const short = proxyActivities<RunwayActivities>(taskQueue ? { ...SHORT, taskQueue, scheduleToStartTimeout: '1 minute' } : SHORT);
  return { executeModel: long.executeModel, cleanupWorkspace: short.cleanupWorkspace };
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
  // eslint-disable-next-line prefer-const -- read by the admit handler before it is assigned
  let admission: Admission | undefined;
  let stopRequested = false;
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

  // The reservation's compensation is its refund, which settling with a failure performs; it is
  // known before the debit is attempted because the debit may land even if the call times out.
  const compensations: (() => Promise<void>)[] = [];
  const localSteps = patched(LOCAL_STEPS_PATCH);
  const { reserveCredits, settleRun } = localSteps ? local : remote;
  admission = await reserveCredits(input);
  if (!admission.admitted) {
    await condition(allHandlersFinished);
    return { status: 'rejected', reason: admission.reason };
  }

  // A session request waits for its turn; the session learns of it once its credits are reserved.
  const session = input.sessionId ? getExternalWorkflowHandle(input.sessionId) : undefined;
  const tellSession = async (notify: () => Promise<void>) => {
    await CancellationScope.nonCancellable(() => notify().catch(() => undefined));
  };
  const announce = async () => {
    if (session) await tellSession(() => session.signal(requestReadySignal, { runId: input.runId, seq: admission?.seq ?? 0 }));
  };
  const announceLate = session !== undefined && patched(LATE_ANNOUNCE_PATCH);
  if (session && !announceLate) await announce();

  let truncated = false;
  let workspacePath: string | null = null;
  let hostQueue: string | null = null;
  try {
    await work.run(async () => {
      if (session) {
        if (announceLate && !(await condition(() => turn !== undefined, ANNOUNCE_FALLBACK))) await announce();
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
      const executed = await stepsOn(hostQueue).executeModel({
        runId: input.runId,
        model: input.model,
        price: input.price,
        estimate: input.estimate,
        maxTokens: input.maxTokens,
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
    const error: RunError = stopped ? STOPPED_ERROR : runErrorOf(err);
    await CancellationScope.nonCancellable(async () => {
      enter(state.status, 'cleanup');
      for (const compensate of compensations) {
        // A compensation that cannot finish (its host is gone) must not keep the refund from happening.
        await compensate().catch(() => undefined);
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
    await stepsOn(hostQueue)
      .cleanupWorkspace({ runId: input.runId })
      .catch(() => undefined); // the run has succeeded and is settled; a lost host keeps its files
  }
  enter('succeeded', 'done');
  if (session) await tellSession(() => session.signal(requestFinishedSignal, { runId: input.runId, status: 'succeeded' }));
  await condition(allHandlersFinished);
  return { status: 'succeeded', error: null, truncated };
}
