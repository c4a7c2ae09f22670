import { sql, type Kysely } from 'kysely';
import { ACTIVE_STATUSES } from '../../../workflows/run-vocabulary';

/** Longest a session's workspace preparation can take (5 attempts × 30 min), with room. */
export const PREPARING_AT_MOST = '3 hours';

/**
 * Issue #26 (end users, round 3):
 * - scoped tokens' budgets: what a token reserved over its life (`token_spend`, by the token's
 *   id, removed an hour after it expires) and what an end user reserved through tokens per
 *   calendar period (`end_user_spend`, one row per user and period, reset when its window moves);
 * - metadata written by a token's holder is kept apart from the tenant's (`user_metadata`);
 * - sessions capped per end user (an index for the count);
 * - `runway_admit` (from 0006) is replaced by one that also decides the token's budgets and
 *   counts sessions preparing a workspace against the active-run caps, still in one round trip
 *   under the account's row lock.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const active = sql.raw(ACTIVE_STATUSES.map((s) => `'${s}'`).join(', '));
  // A session preparing its workspace: open, with a workspace whose path is not recorded yet.
  const preparingRow = "status = 'open' AND workspace IS NOT NULL AND workspace_path IS NULL";
  // Bounded in time: a preparation takes at most 5 attempts of 30 min, so an older row is a
  // session whose workflow never started (its API died in between) and holds no worker.
  const preparing = sql.raw(`${preparingRow.replace(/\b(status|workspace|workspace_path)\b/g, 's.$1')} AND s.created_at > now() - interval '${PREPARING_AT_MOST}'`);
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

    DROP FUNCTION runway_admit(text, text, text, text, integer, jsonb, jsonb, text, text, text, text, bigint, integer, integer, integer, text, jsonb, interval, text, integer);

    CREATE FUNCTION runway_admit(
      p_run_id text, p_account_id text, p_model text, p_prompt text, p_max_tokens integer,
      p_workspace jsonb, p_metadata jsonb, p_session_id text, p_request_id text, p_retry_of text,
      p_request_hash text, p_estimate bigint, p_price_input integer, p_price_output integer,
      p_default_max_active integer,
      -- The workflow execution deciding for itself (runs whose workflow started before admission),
      -- or null for the API, which also writes the outbox entry.
      p_execution_id text, p_sealed_secrets jsonb, p_start_after interval,
      -- The end user (null: none); a session's request runs as the session's end user.
      p_user text, p_default_max_per_user integer,
      -- What a scoped token's caller wrote as metadata (null for the account's key).
      p_user_metadata jsonb,
      -- The creating token (null: the account's key), its expiry, its own budget and its end
      -- user's budget per calendar period (UTC), all in credits (null: none).
      p_token_id text, p_token_expires timestamptz, p_token_budget bigint, p_user_budget bigint, p_user_period text
    ) RETURNS TABLE (outcome text, reason text, detail text, balance bigint, request_hash text, created_at timestamptz, seq bigint)
    LANGUAGE plpgsql AS $fn$
    DECLARE
      v_balance bigint; v_reserved bigint; v_cap integer; v_user_cap integer; v_active bigint;
      v_session_status text; v_multitask text; v_session_user text; v_user text := p_user;
      v_reason text; v_detail text; v_spent bigint;
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
        -- A session preparing its workspace holds a worker like a run does: it counts as one; a
        -- request to that session does not count it again (the request waits for the preparation).
        SELECT (SELECT count(*) FROM runs r WHERE r.account_id = p_account_id AND r.status IN (${active}))
             + (SELECT count(*) FROM sessions s WHERE s.account_id = p_account_id AND ${preparing} AND s.id IS DISTINCT FROM p_session_id)
          INTO v_active;
        IF v_active >= v_cap THEN
          v_reason := 'too-many-active-runs';
          v_detail := format('the account already has %s active runs (maximum %s)', v_active, v_cap);
        END IF;
      END IF;
      IF v_reason IS NULL AND v_user IS NOT NULL AND v_user_cap IS NOT NULL THEN
        SELECT (SELECT count(*) FROM runs r WHERE r.account_id = p_account_id AND r.user_id = v_user AND r.status IN (${active}))
             + (SELECT count(*) FROM sessions s WHERE s.account_id = p_account_id AND s.user_id = v_user AND ${preparing} AND s.id IS DISTINCT FROM p_session_id)
          INTO v_active;
        IF v_active >= v_user_cap THEN
          v_reason := 'too-many-active-runs-for-user';
          v_detail := format('the end user %s already has %s active runs (maximum %s)', v_user, v_active, v_user_cap);
        END IF;
      END IF;
      -- A token's budgets count what its runs reserved at admission (refunds do not give it back).
      IF v_reason IS NULL AND p_token_budget IS NOT NULL THEN
        SELECT t.spent INTO v_spent FROM token_spend t WHERE t.account_id = p_account_id AND t.token_id = p_token_id;
        v_spent := coalesce(v_spent, 0);
        IF v_spent + p_estimate > p_token_budget THEN
          v_reason := 'token-budget-exceeded';
          v_detail := format('the run needs %s credits; this token has %s of its budget of %s left', p_estimate, greatest(p_token_budget - v_spent, 0), p_token_budget);
        END IF;
      END IF;
      IF v_reason IS NULL AND p_user_budget IS NOT NULL AND v_user IS NOT NULL THEN
        SELECT u.spent INTO v_spent FROM end_user_spend u
          WHERE u.account_id = p_account_id AND u.user_id = v_user AND u.period = p_user_period
            AND u.window_start = date_trunc(p_user_period, now() AT TIME ZONE 'UTC');
        v_spent := coalesce(v_spent, 0);
        IF v_spent + p_estimate > p_user_budget THEN
          v_reason := 'user-budget-exceeded';
          v_detail := format('the run needs %s credits; the end user has %s of this %s''s budget of %s left',
                             p_estimate, greatest(p_user_budget - v_spent, 0), p_user_period, p_user_budget);
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
                        session_id, request_id, retry_of, request_hash, estimate, price_input, price_output, last_event_id, user_id,
                        user_metadata)
        VALUES (p_run_id, p_account_id, 'queued', 'reserve', p_model, p_prompt, p_max_tokens, p_workspace, p_metadata,
                p_session_id, p_request_id, p_retry_of, p_request_hash, p_estimate, p_price_input, p_price_output, 1, v_user,
                p_user_metadata)
        RETURNING runs.created_at, runs.seq INTO v_created, v_seq;
      -- The reservation, as src/db/ledger.ts defines a 'reserve' entry.
      UPDATE accounts a SET balance = a.balance - p_estimate, reserved = a.reserved + p_estimate
        WHERE a.id = p_account_id RETURNING a.balance, a.reserved INTO v_balance, v_reserved;
      INSERT INTO ledger_entries (account_id, run_id, kind, amount, balance_after, reserved_after, idempotency_key)
        VALUES (p_account_id, p_run_id, 'reserve', p_estimate, v_balance, v_reserved, p_run_id || ':reserve');
      -- No NOTIFY: nobody can follow a run before this commit tells its id.
      INSERT INTO run_events (run_id, id, type, data)
        VALUES (p_run_id, 1, 'status', '{"status": "queued", "step": "reserve"}');
      IF p_token_id IS NOT NULL THEN
        IF p_token_budget IS NOT NULL THEN
          -- Expired tokens' rows go as new ones come: each is deleted once, so this stays cheap.
          DELETE FROM token_spend t WHERE t.account_id = p_account_id AND t.expires_at < now() - interval '1 hour';
          INSERT INTO token_spend AS t (account_id, token_id, spent, expires_at)
            VALUES (p_account_id, p_token_id, p_estimate, p_token_expires)
            ON CONFLICT (account_id, token_id) DO UPDATE SET spent = t.spent + EXCLUDED.spent;
        END IF;
        IF v_user IS NOT NULL THEN
          -- Every period's window, whatever this token's period: another token of the same end
          -- user with another period sees this spend too.
          INSERT INTO end_user_spend AS u (account_id, user_id, period, window_start, spent)
            SELECT p_account_id, v_user, p.period, date_trunc(p.period, now() AT TIME ZONE 'UTC'), p_estimate
              FROM unnest(ARRAY['hour', 'day', 'week', 'month']) AS p(period)
            ON CONFLICT (account_id, user_id, period) DO UPDATE SET
              spent = CASE WHEN u.window_start = EXCLUDED.window_start THEN u.spent + EXCLUDED.spent ELSE EXCLUDED.spent END,
              window_start = EXCLUDED.window_start;
        END IF;
      END IF;
      IF p_execution_id IS NULL THEN
        INSERT INTO run_starts (run_id, sealed_secrets, available_at) VALUES (p_run_id, p_sealed_secrets, now() + p_start_after);
      END IF;
      RETURN QUERY SELECT 'admitted'::text, NULL::text, NULL::text, v_balance, p_request_hash, v_created, v_seq;
    END;
    $fn$;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('0010-token-budgets cannot be reverted: the earlier runway_admit would ignore token budgets');
}
