import { sql } from 'kysely';
import type { Db } from '../../src/db/database';
import { newId } from '../../src/ids';

/**
 * The floor of admission: the rows an admitted run writes (the account's balance, the run, its
 * reserve ledger row, its first event, its outbox entry) in one transaction of one statement,
 * with no rule checked. The runs are written as finished and settled, with `request_hash`
 * 'bench' (not real runs: the drain ignores them) and outbox entries no relay takes
 * (`available_at` infinity), removed by `clearFloorRows`.
 */
export async function insertAdmissionRows(db: Db, accountId: string, estimate: number): Promise<void> {
  const runId = newId('run');
  await sql`
    WITH account AS (
      UPDATE accounts SET balance = balance - ${estimate}, reserved = reserved + ${estimate}
       WHERE id = ${accountId} RETURNING balance, reserved
    ), run AS (
      INSERT INTO runs (id, account_id, status, step, model, prompt, max_tokens, metadata, request_hash,
                        estimate, price_input, price_output, charged, refunded, last_event_id)
      VALUES (${runId}, ${accountId}, 'failed', 'done', 'demo/echo', 'w0 w1 w2 w3', 20, '{}', 'bench',
              ${estimate}, 1000, 1000, 0, ${estimate}, 1)
      RETURNING id
    ), ledger AS (
      INSERT INTO ledger_entries (account_id, run_id, kind, amount, balance_after, reserved_after, idempotency_key)
      SELECT ${accountId}, run.id, 'reserve', ${estimate}, account.balance, account.reserved, run.id || ':reserve' FROM account, run
    ), event AS (
      INSERT INTO run_events (run_id, id, type, data) SELECT run.id, 1, 'status', '{"status": "queued", "step": "reserve"}' FROM run
    )
    INSERT INTO run_starts (run_id, available_at) SELECT run.id, 'infinity' FROM run`.execute(db);
}

export async function clearFloorRows(db: Db): Promise<void> {
  await sql`DELETE FROM run_starts WHERE available_at = 'infinity'`.execute(db);
}
