import { CancelledFailure, Context } from '@temporalio/activity';
import { publishVolatileEvent } from '../src/db/run-events';
import { enterRunStep } from '../src/db/runs';
import { recordRunProgress, setRunWorkspacePath } from '../src/db/run-workspace';
import { addDropped, appendBoundedLogs, appendLogTruncated, logLineBytes, type DroppedLogs } from '../src/db/run-logs';
import { WorkspaceAborted, WorkspaceError } from '../src/workspaces/errors';
import { removeWorkspace } from '../src/workspaces/layout';
import { LineBatcher } from '../src/workspaces/line-batcher';
import type { OutputStream } from '../src/workspaces/process';
import { prepareWorkspace as prepare, type PrepareProgress } from '../src/workspaces/prepare';
import { truncate } from '../src/text';
import type { PrepareResult, WorkspaceSpec } from '../workflows/types';
import { DEFAULT_LOG_LIMITS } from '../src/config';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { toWorkspaceFailure } from './workspace-failure';

/** Heartbeats carry a stop back from the server, so they go out even while a command is silent. */
const HEARTBEAT_EVERY_MS = 500;
const TICK_EVERY_MS = 1000;
/** Setup output lines one preparation attempt stores at most (within the run's log bytes). */
const MAX_SETUP_LINES = 1000;

/**
 * Prepares the run's workspace (disk check, clone, branch, setup) with every step reported as
 * progress; a run without one goes straight through. A stop kills the running git or setup
 * command's whole process tree; the workflow's compensation then removes the folder.
 */
export function prepareWorkspaceActivity(deps: ActivityDeps) {

  return async function prepareWorkspace(input: { runId: string; workspace: WorkspaceSpec | null }): Promise<PrepareResult> {
    // A run stopped before its workflow started (a start that raced the stop) prepares nothing.
    const active = await enterRunStep(deps.db, input.runId, 'preparing', 'prepare');
    const spec = input.workspace;
    if (!spec || !active) return { path: null };
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const { runId } = input;
    if (attempt > 1) void deps.reportProgress(runId, { step: 'prepare', attempt });

    const reports = progressReporter(deps, runId, attempt);
    const heartbeat = { everyMs: HEARTBEAT_EVERY_MS, details: () => (reports.current ? { step: reports.current.step } : undefined) };
    return withHeartbeat(ctx, heartbeat, async () => {
      try {
        const prepared = await prepare(
          { runId, attempt, spec, root: deps.workspacesDir, settings: deps.workspaces, sandbox: deps.sandbox },
          { signal: ctx.cancellationSignal, ...reports.hooks },
        );
        await reports.closeLogs();
        await setRunWorkspacePath(deps.db, runId, prepared.path);
        return { path: prepared.path, taskQueue: deps.hostTaskQueue };
      } catch (err) {
        await reports.closeLogs().catch((err: unknown) => deps.logger.warn({ err, runId }, 'the last setup output lines were not recorded'));
        throw await failureOf(deps, runId, ctx, err);
      }
    });
  };
}

/**
 * A preparation that will not be retried removes what it left here itself (the workflow's
 * compensation may run on another host, which cannot see this disk); a stop is a cancellation.
 */
async function failureOf(deps: ActivityDeps, runId: string, ctx: Context, err: unknown): Promise<unknown> {
  const stopped = ctx.cancellationSignal.aborted || err instanceof WorkspaceAborted;
  if (stopped || (err instanceof WorkspaceError && !err.retryable)) {
    await removeWorkspace(deps.workspacesDir, runId).catch((err: unknown) =>
      deps.logger.warn({ err, runId }, 'could not remove the workspace of a failed preparation; it is left on disk'),
    );
  }
  return stopped ? new CancelledFailure('the workspace preparation was stopped') : toWorkspaceFailure(err);
}

/**
 * Every step as a stored progress event (and a signal to the workflow); clone percentages as
 * volatile ticks; setup output as log events, within the run's and its account's log bounds:
 * once a write finds no room, later lines are only counted, and closing the attempt's log writes
 * one marker saying how much was dropped.
 */
function progressReporter(deps: ActivityDeps, runId: string, attempt: number) {
  const limits = deps.logLimits ?? DEFAULT_LOG_LIMITS;
  let dropped: DroppedLogs | null = null;
  let full = false;
  const drop = (l: { stream: OutputStream; line: string }) => {
    dropped = addDropped(dropped, { lines: 1, bytes: logLineBytes(l), bound: 'lines', limit: MAX_SETUP_LINES });
  };
  const logs = new LineBatcher<{ stream: OutputStream; line: string }>(
    async (lines) => {
      if (full) return lines.forEach(drop);
      const cut = await appendBoundedLogs(deps.db, runId, lines, limits);
      if (cut) {
        full = true;
        dropped = addDropped(dropped, cut);
      }
    },
    { maxDelayMs: 250, maxLines: MAX_SETUP_LINES, onDrop: drop },
  );
  const closeLogs = async () => {
    await logs.close();
    const cut = dropped;
    dropped = null;
    if (cut) await appendLogTruncated(deps.db, runId, cut);
  };
  let lastTick = 0;
  const reporter = {
    current: null as PrepareProgress | null,
    logs,
    closeLogs,
    hooks: {
      progress: async (p: PrepareProgress) => {
        reporter.current = p;
        await logs.flush();
        await recordRunProgress(deps.db, runId, p);
        void deps.reportProgress(runId, { step: 'prepare', attempt, progress: p });
      },
      tick: (p: PrepareProgress) => {
        reporter.current = p;
        if (Date.now() - lastTick < TICK_EVERY_MS) return;
        lastTick = Date.now();
        void publishVolatileEvent(deps.db, runId, { type: 'progress', data: { ...p } }).catch((err: unknown) =>
          deps.logger.debug({ err, runId }, 'workspace progress tick not published (the next one may be)'),
        );
        void deps.reportProgress(runId, { step: 'prepare', attempt, progress: p });
      },
      log: (stream: OutputStream, line: string) => logs.push({ stream, line: truncate(line, 8192) }),
    },
  };
  return reporter;
}
