import { Context } from '@temporalio/activity';
import { finishRunCleanup, getRunStatus, recordWorkspaceLeftover } from '../src/db/run-workspace';
import { removeWorkspace, workspaceLayout } from '../src/workspaces/layout';
import { CLEANUP_ATTEMPTS, CLEANUP_HEARTBEAT_MS } from '../workflows/types';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';

/**
 * Removes the run's workspace (checkout, partial clone, setup HOME); removing one that is gone
 * already is fine. With RUNWAY_KEEP_WORKSPACES a succeeded run keeps its checkout and its path.
 * The workflow calls this after settling a success and before settling a failure or stop, so
 * only a succeeded run can be seen as such here. Its last attempt records what it could not
 * remove and ends the run's cleanup all the same (`step = done`, no workspace path): the
 * leftover is the operators' record of the folder, and retention can purge the run.
 */
export function cleanupWorkspaceActivity(deps: ActivityDeps) {
  return async function cleanupWorkspace(input: { runId: string }): Promise<void> {
    await recordingLeftovers(deps, input.runId, () => removeRunWorkspace(deps, input.runId), () => finishRunCleanup(deps.db, input.runId, null));
  };
}

/**
 * Runs a workspace removal; when its last attempt fails, what is left is recorded for operators
 * (and the error still fails the step, so the workflow logs it and goes on to settle), then
 * `abandon` lets the owner's record go on without the folder.
 */
export async function recordingLeftovers(deps: ActivityDeps, ownerId: string, remove: () => Promise<void>, abandon?: () => Promise<void>): Promise<void> {
  try {
    // Beats while removing: a worker killed mid-removal is noticed in seconds, not at the timeout.
    await withHeartbeat(Context.current(), { everyMs: CLEANUP_HEARTBEAT_MS }, remove);
  } catch (err) {
    if (Context.current().info.attempt < CLEANUP_ATTEMPTS) throw err;
    deps.logger.error({ ownerId, err }, 'workspace could not be removed; recorded in workspace_leftovers');
    const { dir } = workspaceLayout(deps.workspacesDir, ownerId);
    const error = err instanceof Error ? err.message : String(err);
    await recordWorkspaceLeftover(deps.db, { ownerId, path: dir, hostQueue: deps.hostTaskQueue, error });
    await abandon?.();
    throw err;
  }
}

async function removeRunWorkspace(deps: ActivityDeps, runId: string): Promise<void> {
  const run = await getRunStatus(deps.db, runId);
  const keep = deps.workspaces.keep && run?.status === 'succeeded' && run.workspace_path !== null;
  if (keep) {
    const layout = workspaceLayout(deps.workspacesDir, runId);
    // The checkout stays; the clone scratch space and the setup HOME do not.
    await removeWorkspace(deps.workspacesDir, runId, { keepCheckout: true });
    await finishRunCleanup(deps.db, runId, layout.dir);
    return;
  }
  await removeWorkspace(deps.workspacesDir, runId);
  await finishRunCleanup(deps.db, runId, null);
}
