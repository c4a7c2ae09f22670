import { sql, type Kysely } from 'kysely';
import { ACTIVE_STATUSES } from '../../../workflows/run-vocabulary';

/**
 * End users: runs and sessions carry the end-user id their account's backend chose; an account
 * may cap each end user's active runs; scoped tokens carry the account's token generation, which
 * revoke-all bumps. `runway_admit` (from 0004) is replaced by one that also decides the per-user
 * cap and tags the run, still in one round trip under the account's row lock.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const active = sql.raw(ACTIVE_STATUSES.map((s) => `'${s}'`).join(', '));
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

    DROP FUNCTION runway_admit(text, text, text, text, integer, jsonb, jsonb, text, text, text, text, bigint, integer, integer, integer, text, jsonb, interval);

    CREATE FUNCTION runway_admit(
      p_run_id text, p_account_id text, p_model text, p_prompt text, p_max_tokens integer,
      p_workspace jsonb, p_metadata jsonb, p_session_id text, p_request_id text, p_retry_of text,
      p_request_hash text, p_estimate bigint, p_price_input integer, p_price_output integer,
      p_default_max_active integer,
      -- The workflow execution deciding for itself (runs whose workflow started before admission),
      -- or null for the API, which also writes the outbox entry.
      p_execution_id text, p_sealed_secrets jsonb, p_start_after interval,
      -- The end user (null: none); a session's request runs as the session's end user.
      p_user text, p_default_max_per_user integer
    ) RETURNS TABLE (outcome text, reason text, detail text, balance bigint, request_hash text, created_at timestamptz, seq bigint)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      v_balance bigint; v_reserved bigint; v_cap integer; v_user_cap integer; v_active bigint;
      v_session_status text; v_multitask text; v_session_user text; v_user text := p_user;
      v_reason text; v_detail text;
      v_created timestamptz; v_seq bigint;
    BEGIN
      SELECT a.balance, coalesce(a.max_active_runs, p_default_max_active), coalesce(a.max_active_runs_per_user, p_default_max_per_user)
        INTO v_balance, v_cap, v_user_cap
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
        -- Another account's session, or another end user's, is exactly as unknown as a missing one.
        SELECT s.status, s.multitask, s.user_id INTO v_session_status, v_multitask, v_session_user
          FROM sessions s WHERE s.id = p_session_id AND s.account_id = p_account_id FOR UPDATE;
        IF NOT FOUND OR (p_user IS NOT NULL AND v_session_user IS DISTINCT FROM p_user) THEN
          v_reason := 'session-not-found'; v_detail := 'no such session';
        ELSIF v_session_status <> 'open' THEN
          v_reason := 'session-closed'; v_detail := 'the session is closed';
        ELSIF v_multitask = 'reject' AND EXISTS (
          SELECT 1 FROM runs r WHERE r.session_id = p_session_id AND r.status IN (${active})
        ) THEN
          v_reason := 'session-busy'; v_detail := 'this session rejects new requests while one is queued or running';
        END IF;
        v_user := v_session_user;
      END IF;

      IF v_reason IS NULL THEN
        SELECT count(*) INTO v_active FROM runs r WHERE r.account_id = p_account_id AND r.status IN (${active});
        IF v_active >= v_cap THEN
          v_reason := 'too-many-active-runs';
          v_detail := format('the account already has %s active runs (maximum %s)', v_active, v_cap);
        END IF;
      END IF;
      IF v_reason IS NULL AND v_user IS NOT NULL AND v_user_cap IS NOT NULL THEN
        SELECT count(*) INTO v_active FROM runs r
          WHERE r.account_id = p_account_id AND r.user_id = v_user AND r.status IN (${active});
        IF v_active >= v_user_cap THEN
          v_reason := 'too-many-active-runs-for-user';
          v_detail := format('the end user %s already has %s active runs (maximum %s)', v_user, v_active, v_user_cap);
        END IF;
      END IF;
      IF v_reason IS NULL AND v_balance < p_estimate THEN
        v_reason := 'insufficient-credits';
        v_detail := format('the run needs %s credits; the available balance is %s', p_estimate, v_balance);
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
                        session_id, request_id, retry_of, request_hash, estimate, price_input, price_output, last_event_id, user_id)
        VALUES (p_run_id, p_account_id, 'queued', 'reserve', p_model, p_prompt, p_max_tokens, p_workspace, p_metadata,
                p_session_id, p_request_id, p_retry_of, p_request_hash, p_estimate, p_price_input, p_price_output, 1, v_user)
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

export async function down(): Promise<void> {
  throw new Error('0006-end-users cannot be reverted: the earlier runway_admit would drop end users');
}
