import { sql, type Kysely } from 'kysely';

/**
 * Bounded log storage (issue #26): each run counts the bytes of the log lines it stored
 * (`runs.log_bytes`), and each account the sum over its unpurged runs (`account_storage`, its own
 * row so that log writes never wait on the balance row admissions lock). Both move in the same
 * transaction as the events they count; retention takes a purged run's bytes off its account.
 * Runs stored before this count as 0.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE runs ADD COLUMN log_bytes bigint NOT NULL DEFAULT 0;
    CREATE TABLE account_storage (
      account_id text PRIMARY KEY,
      log_bytes  bigint NOT NULL DEFAULT 0
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE account_storage;
    ALTER TABLE runs DROP COLUMN log_bytes;
  `.execute(db);
}
