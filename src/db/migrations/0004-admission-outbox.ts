import { sql, type Kysely } from 'kysely';
import { ACTIVE_STATUSES } from '../../../workflows/run-vocabulary';

/**
 * Admission without Temporal: one database function decides and records a run (the account's
 * checks, the run, its reservation, its first event and its outbox entry) in a single round trip,
 * so the account row is locked only while PostgreSQL runs it, never across a client's network
 * turns. The run's workflow is started after commit from `run_starts`, the outbox.
 *
 * Each statement of a PL/pgSQL function takes a fresh snapshot under READ COMMITTED, so the
 * counts read after the account lock see every admission committed before it: concurrent
 * admissions of one account are serialized and can never overdraw it or exceed its cap.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // The active statuses are literals in the function body, so that its plan can use the partial
  // index `runs_account_active_idx` (built from the same list).
  const active = sql.raw(ACTIVE_STATUSES.map((s) => `'${s}'`).join(', '));
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

    CREATE FUNCTION runway_admit(
      p_run_id text, p_account_id text, p_model text, p_prompt text, p_max_tokens integer,
      p_workspace jsonb, p_metadata jsonb, p_session_id text, p_request_id text, p_retry_of text,
      p_request_hash text, p_estimate bigint, p_price_input integer, p_price_output integer,
      p_default_max_active integer,
      -- The workflow execution deciding for itself (runs whose workflow started before admission),
      -- or null for the API, which also writes the outbox entry.
      p_execution_id text, p_sealed_secrets jsonb, p_start_after interval
    ) RETURNS TABLE (outcome text, reason text, detail text, balance bigint, request_hash text, created_at timestamptz, seq bigint)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      v_balance bigint; v_reserved bigint; v_cap integer; v_active bigint;
      v_session_status text; v_multitask text;
      v_reason text; v_detail text;
      v_created timestamptz; v_seq bigint;
    BEGIN
      SELECT a.balance, coalesce(a.max_active_runs, p_default_max_active) INTO v_balance, v_cap
        FROM accounts a WHERE a.id = p_account_id FOR UPDATE;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', p_account_id USING ERRCODE = 'no_data_found';
      END IF;

      -- An earlier call decided already: the run exists (an Idempotency-Key replay, or the API
      -- before the workflow's own call), or this execution was refused.
      RETURN QUERY SELECT 'existing'::text, NULL::text, NULL::text, v_balance, r.request_hash, r.created_at, r.seq
        FROM runs r WHERE r.id = p_run_id;
      IF FOUND THEN RETURN; END IF;
      IF p_execution_id IS NOT NULL THEN
        RETURN QUERY SELECT 'refused'::text, j.reason, j.detail, j.balance, j.request_hash, NULL::timestamptz, NULL::bigint
          FROM admission_rejections j WHERE j.run_id = p_run_id AND j.execution_id = p_execution_id;
        IF FOUND THEN RETURN; END IF;
      END IF;

      IF p_session_id IS NOT NULL THEN
        -- Another account's session is exactly as unknown as a missing one.
        SELECT s.status, s.multitask INTO v_session_status, v_multitask
          FROM sessions s WHERE s.id = p_session_id AND s.account_id = p_account_id FOR UPDATE;
        IF NOT FOUND THEN
          v_reason := 'session-not-found'; v_detail := 'no such session';
        ELSIF v_session_status <> 'open' THEN
          v_reason := 'session-closed'; v_detail := 'the session is closed';
        ELSIF v_multitask = 'reject' AND EXISTS (
          SELECT 1 FROM runs r WHERE r.session_id = p_session_id AND r.status IN (${active})
        ) THEN
          v_reason := 'session-busy'; v_detail := 'this session rejects new requests while one is queued or running';
        END IF;
      END IF;

      IF v_reason IS NULL THEN
        SELECT count(*) INTO v_active FROM runs r WHERE r.account_id = p_account_id AND r.status IN (${active});
        IF v_active >= v_cap THEN
          v_reason := 'too-many-active-runs';
          v_detail := format('the account already has %s active runs (maximum %s)', v_active, v_cap);
        ELSIF v_balance < p_estimate THEN
          v_reason := 'insufficient-credits';
          v_detail := format('the run needs %s credits; the available balance is %s', p_estimate, v_balance);
        END IF;
      END IF;

      IF v_reason IS NOT NULL THEN
        IF p_execution_id IS NOT NULL THEN
          -- Recorded, so that a retry of the workflow's call reads this refusal instead of deciding afresh.
          INSERT INTO admission_rejections (run_id, execution_id, reason, detail, balance, request_hash)
            VALUES (p_run_id, p_execution_id, v_reason, v_detail, v_balance, p_request_hash);
        END IF;
        RETURN QUERY SELECT 'refused'::text, v_reason, v_detail, v_balance, p_request_hash, NULL::timestamptz, NULL::bigint;
        RETURN;
      END IF;

      INSERT INTO runs (id, account_id, status, step, model, prompt, max_tokens, workspace, metadata,
                        session_id, request_id, retry_of, request_hash, estimate, price_input, price_output, last_event_id)
        VALUES (p_run_id, p_account_id, 'queued', 'reserve', p_model, p_prompt, p_max_tokens, p_workspace, p_metadata,
                p_session_id, p_request_id, p_retry_of, p_request_hash, p_estimate, p_price_input, p_price_output, 1)
        RETURNING runs.created_at, runs.seq INTO v_created, v_seq;
      -- The reservation, as src/db/ledger.ts defines a 'reserve' entry.
      UPDATE accounts a SET balance = a.balance - p_estimate, reserved = a.reserved + p_estimate
        WHERE a.id = p_account_id RETURNING a.balance, a.reserved INTO v_balance, v_reserved;
      INSERT INTO ledger_entries (account_id, run_id, kind, amount, balance_after, reserved_after, idempotency_key)
        VALUES (p_account_id, p_run_id, 'reserve', p_estimate, v_balance, v_reserved, p_run_id || ':reserve');
      -- No NOTIFY: nobody can follow a run before this commit tells its id.
      INSERT INTO run_events (run_id, id, type, data)
        VALUES (p_run_id, 1, 'status', '{"status": "queued", "step": "reserve"}');
      IF p_execution_id IS NULL THEN
        INSERT INTO run_starts (run_id, sealed_secrets, available_at) VALUES (p_run_id, p_sealed_secrets, now() + p_start_after);
      END IF;
      RETURN QUERY SELECT 'admitted'::text, NULL::text, NULL::text, v_balance, p_request_hash, v_created, v_seq;
    END;
    $fn$;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION runway_admit; DROP TABLE run_starts;`.execute(db);
}
