import { allHandlersFinished, CancellationScope, CancelledFailure, condition, isCancellation, log, setHandler } from '@temporalio/workflow';
import { admitUpdate, progressSignal, statusQuery, stopSignal, turnSignal } from './definitions';
import { PATCHES, runHasPatch, type PatchId } from './patches';
import { KEY_RACE, localDbSteps, prepareWorkspace, remoteDbSteps, runErrorOf, stepsOn } from './run-steps';
import { Compensations, RunTracker } from './run-tracker';
import { SessionLink } from './session-link';
import type { Admission, RunError, RunResult, RunWorkflowInput, TerminalStatus } from './types';

/** What the work scope leaves for settling a success. */
interface Executed {
  truncated: boolean;
  workspacePath: string | null;
  hostQueue: string | null;
}

/** One run's workflow context, shared by its steps. */
interface RunContext {
  input: RunWorkflowInput;
  has: (patch: PatchId) => boolean;
  run: RunTracker;
  link: SessionLink | undefined;
  settle: (status: TerminalStatus, error: RunError | null, truncated?: boolean) => Promise<unknown>;
}

/**
 * One run, as a saga: reserve → prepare → execute → settle → cleanup. Each step that leaves
 * something behind pushes its compensation; on failure or stop they run in reverse order, out of
 * reach of cancellation, so a stopped run is always refunded and cleaned.
 */
export async function runWorkflow(input: RunWorkflowInput): Promise<RunResult> {
  const has = (patch: PatchId) => runHasPatch(input.patchLevel, patch);
  // Admitted by the API before the start; runs started before their admission decide it here.
  let admission: Admission | undefined = input.admission;
  const link = input.sessionId
    ? new SessionLink(input.runId, input.sessionId, () => (admission?.admitted && admission.seq) || 0, has)
    : undefined;
  const run = wireHandlers(link, () => admission);
  const { reserveCredits, settleRun } = has(PATCHES.localDbSteps) ? localDbSteps : remoteDbSteps;
  const settle = (status: TerminalStatus, error: RunError | null, truncated = false) =>
    settleRun({ runId: input.runId, status, error, truncated });
  const ctx: RunContext = { input, has, run, link, settle };

  if (!admission) {
    // The reservation's compensation is its refund, which settling with a failure performs.
    try {
      admission = await reserveCredits(input);
    } catch (err) {
      log.error('admission failed for good', { runId: input.runId, error: runErrorOf(err) });
      return endUnrun(ctx, runErrorOf(err));
    }
  }
  if (!admission.admitted) {
    await condition(allHandlersFinished);
    return { status: 'rejected', reason: admission.reason };
  }
  // The row is what was admitted and billed; an input that is not that request never executes.
  if (admission.requestHash !== input.requestHash && has(PATCHES.admittedBody)) return endUnrun(ctx, KEY_RACE);
  await link?.admitted();

  const compensations = new Compensations();
  let executed: Executed;
  try {
    executed = await run.work.run(() => execute(ctx, compensations));
  } catch (err) {
    return compensateAndSettle(ctx, compensations, err);
  }
  return settleSuccess(ctx, executed);
}

function wireHandlers(link: SessionLink | undefined, admission: () => Admission | undefined): RunTracker {
  const run = new RunTracker();
  // Admission no longer goes through this update (see RunStarter); the handler stays so that runs
  // admitted by update-with-start, and their recorded histories, still replay.
  setHandler(admitUpdate, async () => {
    await condition(() => admission() !== undefined);
    return admission() as Admission;
  });
  setHandler(statusQuery, () => run.state);
  setHandler(turnSignal, (grant) => link?.grant(grant));
  setHandler(progressSignal, (report) => run.progress(report));
  setHandler(stopSignal, () => run.stop());
  return run;
}

/** The cancellable part: wait for a session turn, prepare the workspace, execute the model. */
async function execute({ input, has, run, link }: RunContext, compensations: Compensations): Promise<Executed> {
  let workspacePath: string | null = null;
  let hostQueue: string | null = null;
  if (link) {
    const turn = await link.awaitTurn(run);
    workspacePath = turn.workspacePath ?? null;
    hostQueue = turn.taskQueue ?? null;
  }
  // Without a workspace there is nothing to prepare: such a run goes from queued to running
  // (runs recorded before local steps had a prepare step either way).
  if (input.workspace || !has(PATCHES.localDbSteps)) {
    run.enter('preparing', 'prepare');
    // Registered first: a failed or stopped preparation may leave a partial workspace behind.
    if (input.workspace) compensations.push(() => stepsOn(hostQueue).cleanupWorkspace({ runId: input.runId }));
    const prepared = await prepareWorkspace({ runId: input.runId, workspace: input.workspace });
    workspacePath = prepared.path ?? workspacePath;
    hostQueue = prepared.taskQueue ?? hostQueue;
  }

  run.enter('running', 'execute');
  // Model, price and caps come from the admitted row (see executeModel).
  const result = await stepsOn(hostQueue).executeModel({ runId: input.runId, sealedSecrets: input.sealedSecrets, workspacePath });
  if (result.stopped) {
    // The worker heard of the stop before its signal arrived here: end the run as stopped.
    run.stoppedBy();
    throw new CancelledFailure('the run was stopped');
  }
  return { truncated: result.truncated, workspacePath, hostQueue };
}

/** Failure or stop: compensations in reverse order, then settle (charge what was used, refund the rest). */
async function compensateAndSettle(ctx: RunContext, compensations: Compensations, err: unknown): Promise<RunResult> {
  const { run } = ctx;
  // Asked to stop, a run ends stopped however its step ended (a cancelled step's worker may die
  // and time it out); asked only when that happens, so other histories record no marker.
  const stopped = run.stopRequested && (isCancellation(err) || ctx.has(PATCHES.stopWins));
  const status: TerminalStatus = stopped ? 'stopped' : 'failed';
  const error = status === 'stopped' ? run.stopError : runErrorOf(err);
  await CancellationScope.nonCancellable(async () => {
    run.enter(run.state.status, 'cleanup');
    await compensations.runAll(ctx.input.runId, runErrorOf);
    run.enter(status, 'settle');
    await ctx.settle(status, error);
  });
  return finish(ctx, { status, error, truncated: false });
}

async function settleSuccess(ctx: RunContext, executed: Executed): Promise<RunResult> {
  const { input, run } = ctx;
  run.enter('succeeded', 'settle');
  await ctx.settle('succeeded', null, executed.truncated);
  if (executed.workspacePath && !ctx.link) {
    run.enter('succeeded', 'cleanup');
    // The run has succeeded and is settled; a lost host keeps its files.
    await stepsOn(executed.hostQueue)
      .cleanupWorkspace({ runId: input.runId })
      .catch((err: unknown) => log.error('workspace cleanup failed', { runId: input.runId, error: runErrorOf(err) }));
  }
  return finish(ctx, { status: 'succeeded', error: null, truncated: executed.truncated });
}

/** Ends the run without running it: whatever was reserved is refunded (nothing, if nothing was). */
async function endUnrun(ctx: RunContext, error: RunError): Promise<RunResult> {
  await CancellationScope.nonCancellable(() => ctx.settle('failed', error));
  ctx.run.enter('failed', 'done');
  await condition(allHandlersFinished);
  return { status: 'failed', error, truncated: false };
}

async function finish({ run, link }: RunContext, result: RunResult & { status: TerminalStatus }): Promise<RunResult> {
  run.enter(result.status, 'done');
  await link?.finished(result.status);
  await condition(allHandlersFinished);
  return result;
}
