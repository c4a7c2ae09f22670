import { finishRunCleanup, getRunStatus } from '../src/db/run-workspace';
import { removeWorkspace, workspaceLayout } from '../src/workspaces/layout';
import type { ActivityDeps } from './deps';

/**
 * Removes the run's workspace (checkout, partial clone, setup HOME); removing one that is gone
 * already is fine. With RUNWAY_KEEP_WORKSPACES a succeeded run keeps its checkout and its path.
 * The workflow calls this after settling a success and before settling a failure or stop, so
 * only a succeeded run can be seen as such here.
 */
export function cleanupWorkspaceActivity(deps: ActivityDeps) {
  return async function cleanupWorkspace(input: { runId: string }): Promise<void> {
    const run = await getRunStatus(deps.db, input.runId);
    const keep = deps.workspaces.keep && run?.status === 'succeeded' && run.workspace_path !== null;
    if (keep) {
      const layout = workspaceLayout(deps.workspacesDir, input.runId);
      // The checkout stays; the clone scratch space and the setup HOME do not.
      await removeWorkspace(deps.workspacesDir, input.runId, { keepCheckout: true });
      await finishRunCleanup(deps.db, input.runId, layout.dir);
      return;
    }
    await removeWorkspace(deps.workspacesDir, input.runId);
    await finishRunCleanup(deps.db, input.runId, null);
  };
}
