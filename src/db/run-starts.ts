import { sql } from 'kysely';
import type { Db } from './database';
import { settleRunIn, type Settlement } from './runs';
import type { RunRow } from './schema';
import type { RunError, SealedBox, TerminalStatus } from '../../workflows/types';

/** An outbox entry taken by a relay, with the run it starts. */
export interface ClaimedRunStart {
  run: RunRow;
  sealedSecrets: SealedBox | null;
  /** Starts tried so far, this one included. */
  attempts: number;
}

/**
 * Takes up to `limit` entries due now, oldest first, and leases them for `leaseMs`: other relays
 * skip them meanwhile (`SKIP LOCKED` while this statement runs, the lease after), so several
 * processes never take the same entry at once. An entry whose starter died comes due again when
 * its lease ends. A session request is taken only once every earlier request of its session has
 * been started: a session hears of its requests in admission order, whichever relay starts them.
 */
export async function claimDueRunStarts(db: Db, limit: number, leaseMs: number): Promise<ClaimedRunStart[]> {
  const { rows } = await sql<RunRow & { outbox_secrets: SealedBox | null; outbox_attempts: number }>`
    WITH due AS (
      SELECT s.run_id FROM run_starts s JOIN runs r ON r.id = s.run_id
       WHERE s.available_at <= now() AND (r.session_id IS NULL OR NOT EXISTS (
         SELECT 1 FROM run_starts s2 JOIN runs r2 ON r2.id = s2.run_id WHERE r2.session_id = r.session_id AND r2.seq < r.seq
       ))
       ORDER BY s.available_at LIMIT ${limit} FOR UPDATE OF s SKIP LOCKED
    ), claimed AS (
      UPDATE run_starts s SET available_at = now() + ${`${leaseMs} milliseconds`}::interval, attempts = s.attempts + 1
        FROM due WHERE s.run_id = due.run_id
      RETURNING s.run_id, s.sealed_secrets, s.attempts
    )
    SELECT r.*, c.sealed_secrets AS outbox_secrets, c.attempts AS outbox_attempts
      FROM claimed c JOIN runs r ON r.id = c.run_id
     ORDER BY r.seq`.execute(db);
  return rows.map(({ outbox_secrets, outbox_attempts, ...run }) => ({ run, sealedSecrets: outbox_secrets, attempts: outbox_attempts }));
}

/** The workflows of these runs exist: their entries go, and their sealed secrets with them. */
export async function deleteRunStarts(db: Db, runIds: string[]): Promise<void> {
  if (runIds.length === 0) return;
  await db.deleteFrom('run_starts').where('run_id', 'in', runIds).execute();
}

/** A start that failed: tried again after `delayMs`. */
export async function postponeRunStart(db: Db, runId: string, delayMs: number, error: string): Promise<void> {
  await db
    .updateTable('run_starts')
    .set({ available_at: sql`now() + ${`${delayMs} milliseconds`}::interval`, last_error: error.slice(0, 1000) })
    .where('run_id', '=', runId)
    .execute();
}

/**
 * Ends a run whose workflow has not been started, without one: its entry is removed and the run
 * settled (the whole reservation refunded) in one transaction: its settlement. False when there is no entry any
 * more (its workflow exists, or another call ended it): the caller goes through the workflow.
 */
export async function endUnstartedRun(db: Db, runId: string, status: TerminalStatus, error: RunError): Promise<Settlement | false> {
  return db.transaction().execute(async (trx) => {
    const taken = await trx.deleteFrom('run_starts').where('run_id', '=', runId).returning('run_id').executeTakeFirst();
    if (!taken) return false;
    return (await settleRunIn(trx, { runId, status, error, truncated: false })) ?? false;
  });
}

/** How many runs wait for their workflow, and for how long the oldest has. */
export async function runStartBacklog(db: Db): Promise<{ count: number; oldestAgeMs: number }> {
  const row = await db
    .selectFrom('run_starts')
    .select((eb) => [
      eb.fn.countAll<string>().as('n'),
      sql<number | null>`extract(epoch from now() - min(created_at)) * 1000`.as('age'),
    ])
    .executeTakeFirstOrThrow();
  return { count: Number(row.n), oldestAgeMs: Math.round(Number(row.age ?? 0)) };
}

/** Whether an earlier request of the session still waits to be started (a later one must wait behind it). */
export async function sessionHasPendingStart(db: Db, sessionId: string, beforeSeq: number): Promise<boolean> {
  const row = await db
    .selectFrom('run_starts')
    .innerJoin('runs', 'runs.id', 'run_starts.run_id')
    .select('runs.id')
    .where('runs.session_id', '=', sessionId)
    .where('runs.seq', '<', beforeSeq)
    .executeTakeFirst();
  return row !== undefined;
}
