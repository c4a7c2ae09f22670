import { sql, type Transaction } from 'kysely';
import { TERMINAL_STATUSES } from '../../workflows/run-vocabulary';
import type { Db } from './database';
import type { Database } from './schema';

export interface PurgedCounts {
  runs: number;
  sessions: number;
  events: number;
  deliveries: number;
  /** False when the purge stopped (its time budget) with expired work left: it goes on at once. */
  caughtUp?: boolean;
}

const terminal = sql.join(TERMINAL_STATUSES.map((s) => sql.lit(s)));

/**
 * One batch of finished work older than `cutoff`, deleted in one transaction: runs that ended
 * (and were cleaned up: a kept workspace keeps its run, the only record of its folder) before it
 * with their events, admission records and settled webhook deliveries, then closed sessions with no run left and their event log. A run of a session goes
 * only with a session closed before the cutoff (an open session's context is its runs), and a run
 * with a delivery still pending waits for it. Ledger rows stay. Rows other transactions hold are
 * skipped (SKIP LOCKED): the next batch takes them.
 */
export async function purgeFinishedBatch(db: Db, cutoff: Date, limit: number): Promise<PurgedCounts> {
  return db.transaction().execute(async (trx) => {
    const runs = await sql<{ id: string; account_id: string; log_bytes: string }>`
      SELECT r.id, r.account_id, r.log_bytes FROM runs r
      WHERE r.completed_at < ${cutoff} AND r.status IN (${terminal}) AND r.step = 'done' AND r.workspace_path IS NULL
        AND (r.session_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM sessions s WHERE s.id = r.session_id AND (s.status <> 'closed' OR s.closed_at >= ${cutoff})))
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.run_id = r.id AND d.status = 'pending')
      ORDER BY r.completed_at
      LIMIT ${limit}
      FOR UPDATE OF r SKIP LOCKED`.execute(trx);
    // A delivery made pending again (a redelivery) since the query above read it keeps its run:
    // locking them reads the rows as they are now.
    const owed = await sql<{ run_id: string; status: string }>`
      SELECT run_id, status FROM webhook_deliveries WHERE run_id = ANY(${runs.rows.map((r) => r.id)}) FOR UPDATE`.execute(trx);
    const pending = new Set(owed.rows.filter((d) => d.status === 'pending').map((d) => d.run_id));
    const doomed = runs.rows.filter((r) => !pending.has(r.id));
    const runIds = doomed.map((r) => r.id);
    let events = 0;
    let deliveries = 0;
    if (runIds.length > 0) {
      events += Number((await trx.deleteFrom('run_events').where('run_id', 'in', runIds).executeTakeFirst()).numDeletedRows);
      deliveries = Number((await trx.deleteFrom('webhook_deliveries').where('run_id', 'in', runIds).executeTakeFirst()).numDeletedRows);
      await trx.deleteFrom('webhook_payloads').where('run_id', 'in', runIds).execute();
      await trx.deleteFrom('runs').where('id', 'in', runIds).execute();
      await trx.insertInto('purged_runs').values(doomed.map((r) => ({ id: r.id, account_id: r.account_id }))).onConflict((oc) => oc.doNothing()).execute();
      await releaseLogBytes(trx, doomed);
    }
    const sessions = await sql<{ id: string }>`
      SELECT s.id FROM sessions s
      WHERE s.status = 'closed' AND s.closed_at < ${cutoff}
        AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.session_id = s.id)
      ORDER BY s.closed_at
      LIMIT ${limit}
      FOR UPDATE OF s SKIP LOCKED`.execute(trx);
    const sessionIds = sessions.rows.map((s) => s.id);
    if (sessionIds.length > 0) {
      events += Number((await trx.deleteFrom('run_events').where('run_id', 'in', sessionIds).executeTakeFirst()).numDeletedRows);
      await trx.deleteFrom('sessions').where('id', 'in', sessionIds).execute();
    }
    return { runs: runIds.length, sessions: sessionIds.length, events, deliveries };
  });
}

/** Purged runs' log bytes no longer count against their accounts' bound (see migration 0011). */
async function releaseLogBytes(trx: Transaction<Database>, runs: { account_id: string; log_bytes: string }[]): Promise<void> {
  const some = runs.filter((r) => Number(r.log_bytes) > 0);
  if (some.length === 0) return;
  await sql`
    UPDATE account_storage s SET log_bytes = greatest(0, s.log_bytes - v.n)
      FROM (SELECT a, sum(n) AS n FROM unnest(${some.map((r) => r.account_id)}::text[], ${some.map((r) => r.log_bytes)}::bigint[]) AS u(a, n) GROUP BY a) AS v
     WHERE s.account_id = v.a`.execute(trx);
}

/**
 * Expired work still to purge, counted up to `cap` (an index range scan each): the runs and
 * sessions a purge with this cutoff would take (a run owed a webhook delivery waits for it, as in
 * the purge: counting it would show a backlog that never drains).
 */
export async function countExpired(db: Db, cutoff: Date, cap: number): Promise<number> {
  const result = await sql<{ n: string }>`
    SELECT (SELECT count(*) FROM (SELECT 1 FROM runs r
              WHERE completed_at < ${cutoff} AND status IN (${terminal}) AND step = 'done' AND workspace_path IS NULL
                AND (r.session_id IS NULL OR NOT EXISTS (
                  SELECT 1 FROM sessions s WHERE s.id = r.session_id AND (s.status <> 'closed' OR s.closed_at >= ${cutoff})))
                AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.run_id = r.id AND d.status = 'pending')
              LIMIT ${cap}) r)
         + (SELECT count(*) FROM (SELECT 1 FROM sessions WHERE status = 'closed' AND closed_at < ${cutoff} LIMIT ${cap}) s) AS n`.execute(db);
  return Math.min(cap, Number(result.rows[0]?.n ?? 0));
}

/** Whether retention removed this run (its id must not be admitted again). */
export async function wasPurged(db: Db, runId: string): Promise<boolean> {
  return (await db.selectFrom('purged_runs').select('id').where('id', '=', runId).executeTakeFirst()) !== undefined;
}
