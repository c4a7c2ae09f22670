import { allHandlersFinished, CancellationScope, CancelledFailure, condition, ContinueAsNew, log, setHandler } from '@temporalio/workflow';
import { agentLoop, type AgentPlace } from './agent-loop';
import { progressSignal, statusQuery, stopSignal, turnSignal } from './definitions';
import { prepareWorkspace, runErrorOf, settleRun, stepsOn } from './run-steps';
import { Compensations, RunTracker } from './run-tracker';
import { SessionLink } from './session-link';
import type { RunError, RunResult, RunWorkflowInput, TerminalStatus } from './types';

/** What the work scope leaves for settling a success. */
interface Executed {
  truncated: boolean;
  workspacePath: string | null;
  hostQueue: string | null;
}

/** One run's workflow context, shared by its steps. */
interface RunContext {
  input: RunWorkflowInput;
  run: RunTracker;
  link: SessionLink | undefined;
  settle: (status: TerminalStatus, error: RunError | null, truncated?: boolean) => Promise<unknown>;
}

/**
 * One admitted run (the API reserved its credits before starting it), as a saga: prepare →
 * execute (one model call, or an agent's loop of model turns and tool calls) → settle →
 * cleanup. Each step that leaves something behind pushes its compensation; on failure or stop
 * they run in reverse order, out of reach of cancellation, so a stopped run is always refunded
 * and cleaned.
 */
export async function runWorkflow(input: RunWorkflowInput): Promise<RunResult> {
  const link = input.sessionId ? new SessionLink(input.runId, input.sessionId, input.seq) : undefined;
  const run = wireHandlers(link);
  const settle = (status: TerminalStatus, error: RunError | null, truncated = false) =>
    settleRun({ runId: input.runId, status, error, truncated });
  const ctx: RunContext = { input, run, link, settle };

  const compensations = new Compensations();
  let executed: Executed;
  try {
    executed = await run.work.run(() => execute(ctx, compensations));
  } catch (err) {
    // An agent run continuing as new is not over: its next run carries on.
    if (err instanceof ContinueAsNew) throw err;
    return compensateAndSettle(ctx, compensations, err);
  }
  return settleSuccess(ctx, executed);
}

function wireHandlers(link: SessionLink | undefined): RunTracker {
  const run = new RunTracker();
  setHandler(statusQuery, () => run.state);
  setHandler(turnSignal, (grant) => link?.grant(grant));
  setHandler(progressSignal, (report) => run.progress(report));
  setHandler(stopSignal, () => run.stop());
  return run;
}

/** The cancellable part: wait for a session turn, prepare the workspace, execute the model (or the agent's loop). */
async function execute(ctx: RunContext, compensations: Compensations): Promise<Executed> {
  const { input } = ctx;
  const carried = input.agent?.carried;
  if (carried) {
    // An agent run continued as new: its turn, its workspace and its place are carried over.
    if (input.workspace) compensations.push(() => stepsOn(carried.hostQueue).cleanupWorkspace({ runId: input.runId }));
    return executeAgent(ctx, { workspacePath: carried.workspacePath, hostQueue: carried.hostQueue });
  }
  const prepared = await prepare(ctx, compensations);
  return input.agent ? executeAgent(ctx, prepared) : executeModel(ctx, prepared);
}

/** An agent run: its loop of model turns and tool calls. */
async function executeAgent({ input, run }: RunContext, place: AgentPlace): Promise<Executed> {
  run.enter('running', 'execute');
  const { truncated } = await agentLoop(input, input.agent as NonNullable<typeof input.agent>, run, place);
  return { truncated, ...place };
}

/** Waits for a session turn and prepares the workspace: where the run's steps happen. */
async function prepare({ input, run, link }: RunContext, compensations: Compensations): Promise<AgentPlace> {
  let workspacePath: string | null = null;
  let hostQueue: string | null = null;
  if (link) {
    const turn = await link.awaitTurn(run);
    workspacePath = turn.workspacePath ?? null;
    hostQueue = turn.taskQueue ?? null;
  }
  // Without a workspace there is nothing to prepare: such a run goes from queued to running.
  if (input.workspace) {
    run.enter('preparing', 'prepare');
    // Registered first: a failed or stopped preparation may leave a partial workspace behind.
    compensations.push(() => stepsOn(hostQueue).cleanupWorkspace({ runId: input.runId }));
    const prepared = await prepareWorkspace({ runId: input.runId, workspace: input.workspace });
    workspacePath = prepared.path ?? workspacePath;
    hostQueue = prepared.taskQueue ?? hostQueue;
  }
  return { workspacePath, hostQueue };
}

/** A plain run: one model call. */
async function executeModel({ input, run }: RunContext, { workspacePath, hostQueue }: AgentPlace): Promise<Executed> {
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
  // and time it out).
  const status: TerminalStatus = run.stopRequested ? 'stopped' : 'failed';
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

async function finish({ run, link }: RunContext, result: RunResult): Promise<RunResult> {
  run.enter(result.status, 'done');
  await link?.finished(result.status);
  await condition(allHandlersFinished);
  return result;
}
