import type { Db } from '../db/database';
import { setRunWorkspacePath } from '../db/run-workspace';
import { removeWorkspace } from './layout';

/**
 * Removes a kept workspace when its run is deleted (DELETE /v1/runs/:id). Runs where the
 * workspaces folder is: the API process of a single-machine install, or a worker.
 */
export async function discardRunWorkspace(db: Db, workspacesDir: string, runId: string): Promise<void> {
  await removeWorkspace(workspacesDir, runId);
  await setRunWorkspacePath(db, runId, null);
}
