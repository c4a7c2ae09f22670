import { sql, type Kysely } from 'kysely';

/**
 * Retention: finished work older than RUNWAY_RETENTION_DAYS is purged in batches (src/db/
 * retention.ts). The ledger is kept. A purged run leaves its id in `purged_runs`, so that an
 * Idempotency-Key replayed after the purge (it derives the same id) is refused as expired instead
 * of admitting a second run under an id the ledger already knows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE purged_runs (
      id         text PRIMARY KEY,
      account_id text NOT NULL,
      purged_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX runs_completed_idx ON runs (completed_at) WHERE completed_at IS NOT NULL;
    CREATE INDEX sessions_closed_idx ON sessions (closed_at) WHERE status = 'closed';
    CREATE INDEX webhook_deliveries_run_idx ON webhook_deliveries (run_id);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX webhook_deliveries_run_idx;
    DROP INDEX sessions_closed_idx;
    DROP INDEX runs_completed_idx;
    DROP TABLE purged_runs;
  `.execute(db);
}
