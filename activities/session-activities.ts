import { Context } from '@temporalio/activity';
import { getRunRequestId } from '../src/db/runs';
import { appendEventsNow, sessionStream } from '../src/db/run-events';
import { getSessionStatus, hasSessionEventFor, markSessionClosing, setSessionStatus, setSessionWorkspacePath } from '../src/db/sessions';
import { removeWorkspace } from '../src/workspaces/layout';
import { prepareWorkspace } from '../src/workspaces/prepare';
import type { PrepareResult, WorkspaceSpec } from '../workflows/types';
import { recordingLeftovers } from './cleanup-workspace';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { toWorkspaceFailure } from './workspace-failure';

/** Side effects of the session workflow: its event log, its workspace, its closing. */
export function sessionActivities(deps: ActivityDeps) {
  return {
    /** Publishes `request.completed` once per request, even when retried. */
    async recordSessionEvent(input: { sessionId: string; type: 'request.completed'; runId: string; status: string }): Promise<void> {
      if (await hasSessionEventFor(deps.db, input.sessionId, input.type, input.runId)) return;
      const requestId = await getRunRequestId(deps.db, input.runId);
      await appendEventsNow(deps.db, sessionStream(input.sessionId), [
        { type: input.type, data: { sessionId: input.sessionId, requestId, runId: input.runId, status: input.status } },
      ]);
    },

    /**
     * Prepares the session's workspace once, for all its requests: the same steps as a run's,
     * reported on the session's own event stream.
     */
    async prepareSessionWorkspace(input: { sessionId: string; workspace: WorkspaceSpec }): Promise<PrepareResult> {
      const ctx = Context.current();
      return withHeartbeat(ctx, { everyMs: 500 }, async () => {
        try {
          const prepared = await prepareWorkspace(
            {
              runId: input.sessionId,
              attempt: ctx.info.attempt,
              spec: input.workspace,
              root: deps.workspacesDir,
              settings: deps.workspaces,
              sandbox: deps.sandbox,
            },
            {
              signal: ctx.cancellationSignal,
              progress: async (p) => {
                await appendEventsNow(deps.db, sessionStream(input.sessionId), [{ type: 'progress', data: { ...p } }]);
              },
              tick: () => undefined,
              log: () => undefined,
            },
          );
          await setSessionWorkspacePath(deps.db, input.sessionId, prepared.path);
          return { path: prepared.path, taskQueue: deps.hostTaskQueue };
        } catch (err) {
          throw toWorkspaceFailure(err);
        }
      });
    },

    async cleanupSessionWorkspace(input: { sessionId: string }): Promise<void> {
      await recordingLeftovers(deps, input.sessionId, async () => {
        await removeWorkspace(deps.workspacesDir, input.sessionId);
        await setSessionWorkspacePath(deps.db, input.sessionId, null);
      });
    },

    /** A session whose workspace cannot be prepared says why on its stream before it closes. */
    async recordSessionError(input: { sessionId: string; code: string; message: string }): Promise<void> {
      await appendEventsNow(deps.db, sessionStream(input.sessionId), [{ type: 'error', data: { code: input.code, message: input.message } }]);
    },

    /** Marks an open session closing, so admission refuses its new requests (409); idempotent. */
    async markSessionClosing(input: { sessionId: string }): Promise<void> {
      await markSessionClosing(deps.db, input.sessionId);
    },

    /** Marks the session closed and ends its event stream; a second call changes nothing. */
    async closeSessionRecord(input: { sessionId: string }): Promise<void> {
      const status = await getSessionStatus(deps.db, input.sessionId);
      if (!status || status === 'closed') return;
      await setSessionStatus(deps.db, input.sessionId, 'closed');
      await appendEventsNow(deps.db, sessionStream(input.sessionId), [
        { type: 'session.closed', data: { sessionId: input.sessionId } },
        { type: 'end', data: { status: 'closed' } },
      ]);
    },
  };
}
