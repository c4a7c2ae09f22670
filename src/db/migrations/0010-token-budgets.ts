import { sql, type Kysely } from 'kysely';

/**
 * Issue #26 (end users, round 3):
 * - scoped tokens' budgets: what a token reserved over its life (`token_spend`, by the token's
 *   id, removed an hour after it expires) and what an end user reserved through tokens per
 *   calendar period (`end_user_spend`, one row per user and period, reset when its window moves);
 * - metadata written by a token's holder is kept apart from the tenant's (`user_metadata`);
 * - sessions capped per end user (an index for the count);
 * - sessions preparing a workspace counted against the active-run caps (an index for the count).
 * (This migration also replaced `runway_admit` to decide the token's budgets and count preparing
 * sessions: the function is defined in full by src/db/sql/runway_admit.sql since 0.2.)
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // A session preparing its workspace: open, with a workspace whose path is not recorded yet.
  const preparingRow = "status = 'open' AND workspace IS NOT NULL AND workspace_path IS NULL";
  await sql`
    CREATE TABLE token_spend (
      account_id text NOT NULL,
      token_id   text NOT NULL,
      spent      bigint NOT NULL,
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (account_id, token_id)
    );
    CREATE INDEX token_spend_expiry_idx ON token_spend (account_id, expires_at);
    CREATE TABLE end_user_spend (
      account_id   text NOT NULL,
      user_id      text NOT NULL,
      period       text NOT NULL,
      window_start timestamp NOT NULL,
      spent        bigint NOT NULL,
      PRIMARY KEY (account_id, user_id, period)
    );
    ALTER TABLE runs ADD COLUMN user_metadata jsonb;
    ALTER TABLE sessions ADD COLUMN user_metadata jsonb;
    CREATE INDEX sessions_user_open_idx ON sessions (account_id, user_id) WHERE user_id IS NOT NULL AND status <> 'closed';
    CREATE INDEX sessions_preparing_idx ON sessions (account_id) WHERE ${sql.raw(preparingRow)};
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('0010-token-budgets cannot be reverted: token budgets would be lost');
}
