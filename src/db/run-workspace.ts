import type { Db } from './database';
import { excerpt, safeJson } from '../text';
import { appendEvents, runStream } from './run-events';
import { TERMINAL_STATUSES } from '../../workflows/run-vocabulary';
import type { RunProgress, WorkspaceLeftoverRow } from './schema';

/**
 * Records a preparation step: the run's `progress` and a persisted `progress` event, in one
 * transaction. A run that already ended keeps its final state.
 */
export async function recordRunProgress(db: Db, runId: string, progress: RunProgress): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('runs')
      .set({ progress: safeJson(progress) })
      .where('id', '=', runId)
      .where('status', 'not in', TERMINAL_STATUSES)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return;
    await appendEvents(trx, runStream(runId), [{ type: 'progress', data: { ...progress } }]);
  });
}

/** Where the run's workspace is (null once it has been removed). */
export async function setRunWorkspacePath(db: Db, runId: string, path: string | null): Promise<void> {
  await db.updateTable('runs').set({ workspace_path: path }).where('id', '=', runId).execute();
}

/**
 * After its workspace was removed or kept: a run whose settle already moved it to `cleanup`
 * is now `done`. A run still being prepared or executed is left alone (a failed run is cleaned
 * before it is settled, and its settle then sees no workspace and goes straight to `done`).
 */
export async function finishRunCleanup(db: Db, runId: string, keptPath: string | null): Promise<void> {
  await db
    .updateTable('runs')
    .set({ workspace_path: keptPath })
    .where('id', '=', runId)
    .execute();
  await db.updateTable('runs').set({ step: 'done' }).where('id', '=', runId).where('step', '=', 'cleanup').execute();
}

export async function getRunStatus(db: Db, runId: string): Promise<{ status: string; workspace_path: string | null } | undefined> {
  return db.selectFrom('runs').select(['status', 'workspace_path']).where('id', '=', runId).executeTakeFirst();
}

/** A workspace that could not be removed, kept in view for operators (the latest error wins). */
export async function recordWorkspaceLeftover(
  db: Db,
  leftover: { ownerId: string; path: string; hostQueue: string | null; error: string },
): Promise<void> {
  const row = { owner_id: leftover.ownerId, path: leftover.path, host_queue: leftover.hostQueue, error: excerpt(leftover.error, 4000) };
  await db
    .insertInto('workspace_leftovers')
    .values(row)
    .onConflict((oc) => oc.column('owner_id').doUpdateSet({ path: row.path, host_queue: row.host_queue, error: row.error }))
    .execute();
}

export async function listWorkspaceLeftovers(db: Db, limit: number): Promise<WorkspaceLeftoverRow[]> {
  return db.selectFrom('workspace_leftovers').selectAll().orderBy('created_at', 'desc').limit(limit).execute();
}
