import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { publishVolatileEvent } from '../src/db/run-events';
import { enterRunStep } from '../src/db/runs';
import { appendRunLogs, recordRunProgress, setRunWorkspacePath } from '../src/db/run-workspace';
import { WorkspaceAborted, WorkspaceError } from '../src/workspaces/errors';
import { removeWorkspace } from '../src/workspaces/layout';
import { LineBatcher } from '../src/workspaces/line-batcher';
import type { OutputStream } from '../src/workspaces/process';
import { prepareWorkspace as prepare, type PrepareProgress } from '../src/workspaces/prepare';
import { SetupSandbox } from '../src/workspaces/sandbox';
import { truncate } from '../src/text';
import type { PrepareResult, WorkspaceSpec } from '../workflows/types';
import type { ActivityDeps } from './deps';

/** Heartbeats carry a stop back from the server, so they go out even while a command is silent. */
const HEARTBEAT_EVERY_MS = 500;
const TICK_EVERY_MS = 1000;

/**
 * Prepares the run's workspace (disk check, clone, branch, setup) with every step reported as
 * progress; a run without one goes straight through. A stop kills the running git or setup
 * command's whole process tree; the workflow's compensation then removes the folder.
 */
export function prepareWorkspaceActivity(deps: ActivityDeps) {
  // One detection of bubblewrap per worker, shared by all runs.
  const sandbox = new SetupSandbox(deps.workspaces, deps.workspacesDir, (message) => deps.logger.warn(message));

  return async function prepareWorkspace(input: { runId: string; workspace: WorkspaceSpec | null }): Promise<PrepareResult> {
    await enterRunStep(deps.db, input.runId, 'preparing', 'prepare');
    if (!input.workspace) return { path: null };
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const { runId } = input;
    if (attempt > 1) void deps.reportProgress(runId, { step: 'prepare', attempt });

    let current: PrepareProgress | null = null;
    const beat = setInterval(() => ctx.heartbeat(current ? { step: current.step } : undefined), HEARTBEAT_EVERY_MS);
    ctx.heartbeat();
    let lastTick = 0;
    const logs = new LineBatcher<{ stream: OutputStream; line: string }>((lines) => appendRunLogs(deps.db, runId, lines), {
      maxDelayMs: 250,
      maxLines: 1000,
      onDropped: (n) => deps.logger.debug({ runId, dropped: n }, 'setup output lines dropped'),
    });

    try {
      const prepared = await prepare(
        { runId, attempt, spec: input.workspace, root: deps.workspacesDir, settings: deps.workspaces, sandbox },
        {
          signal: ctx.cancellationSignal,
          progress: async (p) => {
            current = p;
            await logs.flush();
            await recordRunProgress(deps.db, runId, p);
            void deps.reportProgress(runId, { step: 'prepare', attempt, progress: p });
          },
          tick: (p) => {
            current = p;
            if (Date.now() - lastTick < TICK_EVERY_MS) return;
            lastTick = Date.now();
            void publishVolatileEvent(deps.db, runId, { type: 'progress', data: { ...p } }).catch(() => undefined);
            void deps.reportProgress(runId, { step: 'prepare', attempt, progress: p });
          },
          log: (stream, line) => logs.push({ stream, line: truncate(line, 8192) }),
        },
      );
      await logs.close();
      await setRunWorkspacePath(deps.db, runId, prepared.path);
      return { path: prepared.path, taskQueue: deps.hostTaskQueue };
    } catch (err) {
      await logs.close().catch(() => undefined);
      // A preparation that will not be retried removes what it left here itself: the workflow's
      // compensation may run on another host, which cannot see this disk.
      const final = ctx.cancellationSignal.aborted || err instanceof WorkspaceAborted || (err instanceof WorkspaceError && !err.retryable);
      if (final) await removeWorkspace(deps.workspacesDir, runId).catch(() => undefined);
      if (ctx.cancellationSignal.aborted || err instanceof WorkspaceAborted) {
        throw new CancelledFailure('the workspace preparation was stopped');
      }
      if (err instanceof WorkspaceError) {
        throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: !err.retryable });
      }
      throw err;
    } finally {
      clearInterval(beat);
    }
  };
}
