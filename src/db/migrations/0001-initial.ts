import { sql, type Kysely } from 'kysely';

/** Accounts, the append-only credit ledger, runs and their event log. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE accounts (
      id              text PRIMARY KEY,
      name            text NOT NULL,
      api_key_hash    text NOT NULL UNIQUE,
      balance         bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
      reserved        bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
      max_active_runs integer CHECK (max_active_runs > 0),
      created_at      timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE ledger_entries (
      id              bigserial PRIMARY KEY,
      account_id      text NOT NULL REFERENCES accounts(id),
      run_id          text,
      kind            text NOT NULL CHECK (kind IN ('credit', 'reserve', 'charge', 'refund')),
      amount          bigint NOT NULL CHECK (amount >= 0),
      balance_after   bigint NOT NULL,
      reserved_after  bigint NOT NULL,
      idempotency_key text UNIQUE,
      reason          text,
      created_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ledger_account_idx ON ledger_entries (account_id, id DESC);
    CREATE INDEX ledger_run_idx ON ledger_entries (run_id) WHERE run_id IS NOT NULL;

    CREATE TABLE runs (
      id             text PRIMARY KEY,
      seq            bigserial NOT NULL UNIQUE,
      account_id     text NOT NULL REFERENCES accounts(id),
      status         text NOT NULL,
      step           text NOT NULL,
      progress       jsonb,
      model          text NOT NULL,
      prompt         text NOT NULL,
      max_tokens     integer NOT NULL,
      workspace      jsonb,
      workspace_path text,
      metadata       jsonb NOT NULL DEFAULT '{}',
      session_id     text,
      retry_of       text,
      request_hash   text NOT NULL,
      estimate       bigint NOT NULL CHECK (estimate >= 0),
      price_input    integer NOT NULL,
      price_output   integer NOT NULL,
      charged        bigint,
      refunded       bigint,
      input_tokens   integer NOT NULL DEFAULT 0,
      output_tokens  integer NOT NULL DEFAULT 0,
      output         text NOT NULL DEFAULT '',
      truncated      boolean NOT NULL DEFAULT false,
      attempt        integer NOT NULL DEFAULT 0,
      error          jsonb,
      last_event_id  bigint NOT NULL DEFAULT 0,
      created_at     timestamptz NOT NULL DEFAULT now(),
      started_at     timestamptz,
      completed_at   timestamptz,
      deleted_at     timestamptz,
      CHECK (charged IS NULL OR refunded IS NULL OR charged + refunded = estimate)
    );
    CREATE INDEX runs_account_list_idx ON runs (account_id, seq DESC) WHERE deleted_at IS NULL;
    CREATE INDEX runs_account_active_idx ON runs (account_id) WHERE status IN ('queued', 'preparing', 'running', 'stopping');
    CREATE INDEX runs_session_idx ON runs (session_id) WHERE session_id IS NOT NULL;

    CREATE TABLE run_events (
      run_id     text NOT NULL REFERENCES runs(id),
      id         bigint NOT NULL,
      type       text NOT NULL,
      data       jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (run_id, id)
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE run_events, runs, ledger_entries, accounts`.execute(db);
}
