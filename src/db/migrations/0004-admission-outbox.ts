import { sql, type Kysely } from 'kysely';

/**
 * Admission without Temporal: `run_starts`, the outbox, holds each admitted run whose workflow
 * has not been started yet. (This migration also created `runway_admit`, the function deciding
 * admission; it is defined in full by src/db/sql/runway_admit.sql since 0.2, the compatibility
 * floor, and no migration holds a copy.)
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The outbox: one row per admitted run whose workflow has not been started yet. The sealed
    -- secrets wait here (ciphertext only) and go with the row once the workflow has started.
    CREATE TABLE run_starts (
      run_id         text PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
      sealed_secrets jsonb,
      available_at   timestamptz NOT NULL,
      attempts       integer NOT NULL DEFAULT 0,
      last_error     text,
      created_at     timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX run_starts_due_idx ON run_starts (available_at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE run_starts;`.execute(db);
}
