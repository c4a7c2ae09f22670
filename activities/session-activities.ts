import { sql } from 'kysely';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { appendSessionEvents, setSessionStatus, setSessionWorkspacePath } from '../src/db/sessions';
import { WorkspaceError } from '../src/workspaces/errors';
import { removeWorkspace } from '../src/workspaces/layout';
import { prepareWorkspace } from '../src/workspaces/prepare';
import { SetupSandbox } from '../src/workspaces/sandbox';
import type { PrepareResult, WorkspaceSpec } from '../workflows/types';
import { recordingLeftovers } from './cleanup-workspace';
import type { ActivityDeps } from './deps';

/** Side effects of the session workflow: its event log, its workspace, its closing. */
export function sessionActivities(deps: ActivityDeps) {
  const sandbox = new SetupSandbox(deps.workspaces, deps.workspacesDir, (message) => deps.logger.warn(message));
  return {
    /** Publishes `request.completed` once per request, even when retried. */
    async recordSessionEvent(input: { sessionId: string; type: 'request.completed'; runId: string; status: string }): Promise<void> {
      const seen = await deps.db
        .selectFrom('run_events')
        .select('id')
        .where('run_id', '=', input.sessionId)
        .where('type', '=', input.type)
        .where(sql<boolean>`data->>'runId' = ${input.runId}`)
        .executeTakeFirst();
      if (seen) return;
      const run = await deps.db.selectFrom('runs').select('request_id').where('id', '=', input.runId).executeTakeFirst();
      await appendSessionEvents(deps.db, input.sessionId, [
        {
          type: input.type,
          data: { sessionId: input.sessionId, requestId: run?.request_id ?? null, runId: input.runId, status: input.status },
        },
      ]);
    },

    /**
     * Prepares the session's workspace once, for all its requests: the same steps as a run's,
     * reported on the session's own event stream.
     */
    async prepareSessionWorkspace(input: { sessionId: string; workspace: WorkspaceSpec }): Promise<PrepareResult> {
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 500);
      try {
        const prepared = await prepareWorkspace(
          {
            runId: input.sessionId,
            attempt: ctx.info.attempt,
            spec: input.workspace,
            root: deps.workspacesDir,
            settings: deps.workspaces,
            sandbox,
          },
          {
            signal: ctx.cancellationSignal,
            progress: async (p) => {
              await appendSessionEvents(deps.db, input.sessionId, [{ type: 'progress', data: { ...p } }]);
            },
            tick: () => undefined,
            log: () => undefined,
          },
        );
        await setSessionWorkspacePath(deps.db, input.sessionId, prepared.path);
        return { path: prepared.path, taskQueue: deps.hostTaskQueue };
      } catch (err) {
        if (err instanceof WorkspaceError) {
          throw ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: !err.retryable });
        }
        throw err;
      } finally {
        clearInterval(beat);
      }
    },

    async cleanupSessionWorkspace(input: { sessionId: string }): Promise<void> {
      await recordingLeftovers(deps, input.sessionId, async () => {
        await removeWorkspace(deps.workspacesDir, input.sessionId);
        await setSessionWorkspacePath(deps.db, input.sessionId, null);
      });
    },

    /** A session whose workspace cannot be prepared says why on its stream before it closes. */
    async recordSessionError(input: { sessionId: string; code: string; message: string }): Promise<void> {
      await appendSessionEvents(deps.db, input.sessionId, [{ type: 'error', data: { code: input.code, message: input.message } }]);
    },

    /** Marks the session closed and ends its event stream; a second call changes nothing. */
    async closeSessionRecord(input: { sessionId: string }): Promise<void> {
      const session = await deps.db.selectFrom('sessions').select('status').where('id', '=', input.sessionId).executeTakeFirst();
      if (!session || session.status === 'closed') return;
      await setSessionStatus(deps.db, input.sessionId, 'closed');
      await appendSessionEvents(deps.db, input.sessionId, [
        { type: 'session.closed', data: { sessionId: input.sessionId } },
        { type: 'end', data: { status: 'closed' } },
      ]);
    },
  };
}
