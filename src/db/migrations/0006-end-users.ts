import { sql, type Kysely } from 'kysely';

/**
 * End users: runs and sessions carry the end-user id their account's backend chose; an account
 * may cap each end user's active runs; scoped tokens carry the account's token generation, which
 * revoke-all bumps. (This migration also replaced `runway_admit` to decide the per-user cap: the
 * function is defined in full by src/db/sql/runway_admit.sql since 0.2.)
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // The active statuses when this was written (workflows/run-vocabulary.ts): a migration keeps
  // the values it had, whatever the live list becomes.
  const active = sql.raw("'queued', 'preparing', 'running', 'stopping'");
  await sql`
    ALTER TABLE runs ADD COLUMN user_id text;
    ALTER TABLE sessions ADD COLUMN user_id text;
    -- A stable key for session list cursors (created_at may repeat).
    ALTER TABLE sessions ADD COLUMN seq bigserial;
    ALTER TABLE accounts ADD COLUMN max_active_runs_per_user integer;
    ALTER TABLE accounts ADD COLUMN token_generation integer NOT NULL DEFAULT 0;
    CREATE INDEX runs_account_user_idx ON runs (account_id, user_id, seq DESC) WHERE user_id IS NOT NULL AND deleted_at IS NULL;
    CREATE INDEX runs_user_active_idx ON runs (account_id, user_id) WHERE user_id IS NOT NULL AND status IN (${active});
    CREATE INDEX sessions_account_seq_idx ON sessions (account_id, seq DESC);
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('0006-end-users cannot be reverted: end users would be lost');
}
