import { sql, type Kysely } from 'kysely';

/**
 * Sessions: a conversation whose requests are ordinary runs executed one at a time. A session
 * has its own event log (request.completed …), kept in run_events under the session's id, so
 * the log no longer requires a run row for every stream.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE sessions (
      id             text PRIMARY KEY,
      account_id     text NOT NULL REFERENCES accounts(id),
      status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closing', 'closed')),
      model          text NOT NULL,
      max_tokens     integer NOT NULL,
      context_tokens integer NOT NULL,
      multitask      text NOT NULL CHECK (multitask IN ('enqueue', 'reject', 'interrupt')),
      workspace      jsonb,
      workspace_path text,
      metadata       jsonb NOT NULL DEFAULT '{}',
      last_event_id  bigint NOT NULL DEFAULT 0,
      created_at     timestamptz NOT NULL DEFAULT now(),
      closed_at      timestamptz
    );
    CREATE INDEX sessions_account_idx ON sessions (account_id, created_at DESC);

    ALTER TABLE runs ADD COLUMN request_id text UNIQUE;

    -- A refused admission, recorded so that whichever of the API and the workflow decides second
    -- (they race by design) follows the first decision. Keyed by the workflow execution, so a
    -- retried Idempotency-Key (a new execution) gets a fresh decision.
    CREATE TABLE admission_rejections (
      run_id       text NOT NULL,
      execution_id text NOT NULL,
      reason       text NOT NULL,
      detail       text NOT NULL,
      balance      bigint NOT NULL,
      request_hash text NOT NULL,
      created_at   timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (run_id, execution_id)
    );
    ALTER TABLE run_events DROP CONSTRAINT run_events_run_id_fkey;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE run_events ADD CONSTRAINT run_events_run_id_fkey FOREIGN KEY (run_id) REFERENCES runs(id);
    DROP TABLE admission_rejections;
    ALTER TABLE runs DROP COLUMN request_id;
    DROP TABLE sessions;
  `.execute(db);
}
