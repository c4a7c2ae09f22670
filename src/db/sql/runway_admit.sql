-- Admission in one round trip (applied by `npm run migrate` as a repeatable step: edit this file,
-- and every process migrating at startup replaces the function; see src/db/repeatable.ts).
--
-- One database function decides and records a run (the account's checks, the run, its
-- reservation, its first event and its outbox entry) so the account row is locked only while
-- PostgreSQL runs it, never across a client's network turns. The run's workflow is started after
-- commit from `run_starts`, the outbox.
--
-- Each statement of a PL/pgSQL function takes a fresh snapshot under READ COMMITTED, so the
-- counts read after the account lock see every admission committed before it: concurrent
-- admissions of one account are serialized and can never overdraw it or exceed its caps.
--
-- {{active_statuses}} and {{preparing_at_most}} are filled in from TypeScript before the text is
-- hashed and run: literals, so that the plans can use the partial indexes built on the same list.
--
-- The argument (keys as src/db/admission.ts writes them; JSON null and absent mean none):
--   runId, accountId, model, prompt, maxTokens, workspace, metadata, sessionId, requestId,
--   retryOf, requestHash, estimate, price {input, output}, sealedSecrets, startAfterMs,
--   defaultMaxActiveRuns, defaultMaxActiveRunsPerUser (null: no per-user cap unless the
--   account sets one), user (the end user; a session's request runs as the session's end user),
--   userMetadata (what a scoped token's caller wrote), token {id, expiresAt, budget,
--   userBudget {credits, period}} (the creating scoped token; absent: the account's key),
--   agent {tools, maxSteps, toolPrice} (an agent run; absent: a plain run).
CREATE OR REPLACE FUNCTION runway_admit(p jsonb)
RETURNS TABLE (outcome text, reason text, detail text, balance bigint, request_hash text, created_at timestamptz, seq bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  p_run_id text := p->>'runId';
  p_account_id text := p->>'accountId';
  p_session_id text := p->>'sessionId';
  p_request_hash text := p->>'requestHash';
  p_estimate bigint := (p->>'estimate')::bigint;
  p_user text := p->>'user';
  p_token_id text := p->'token'->>'id';
  p_token_budget bigint := (p->'token'->>'budget')::bigint;
  p_user_budget bigint := (p->'token'->'userBudget'->>'credits')::bigint;
  p_user_period text := p->'token'->'userBudget'->>'period';
  v_balance bigint; v_reserved bigint; v_cap integer; v_user_cap integer; v_active bigint;
  v_session_status text; v_multitask text; v_session_user text; v_user text := p_user;
  v_reason text; v_detail text; v_spent bigint;
  v_created timestamptz; v_seq bigint;
BEGIN
  SELECT a.balance,
         coalesce(a.max_active_runs, (p->>'defaultMaxActiveRuns')::integer),
         coalesce(a.max_active_runs_per_user, (p->>'defaultMaxActiveRunsPerUser')::integer)
    INTO v_balance, v_cap, v_user_cap
    FROM accounts a WHERE a.id = p_account_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % does not exist', p_account_id USING ERRCODE = 'no_data_found';
  END IF;

  -- An earlier call decided already: the run exists (an Idempotency-Key replay, or a session
  -- request admitted by a concurrent call).
  RETURN QUERY SELECT 'existing'::text, NULL::text, NULL::text, v_balance, r.request_hash, r.created_at, r.seq
    FROM runs r WHERE r.id = p_run_id;
  IF FOUND THEN RETURN; END IF;

  IF p_session_id IS NOT NULL THEN
    -- Another account's session, or another end user's, is exactly as unknown as a missing one.
    SELECT s.status, s.multitask, s.user_id INTO v_session_status, v_multitask, v_session_user
      FROM sessions s WHERE s.id = p_session_id AND s.account_id = p_account_id FOR UPDATE;
    IF NOT FOUND OR (p_user IS NOT NULL AND v_session_user IS DISTINCT FROM p_user) THEN
      v_reason := 'session-not-found'; v_detail := 'no such session';
    ELSIF v_session_status <> 'open' THEN
      v_reason := 'session-closed'; v_detail := 'the session is closed';
    ELSIF v_multitask = 'reject' AND EXISTS (
      SELECT 1 FROM runs r WHERE r.session_id = p_session_id AND r.status IN ({{active_statuses}})
    ) THEN
      v_reason := 'session-busy'; v_detail := 'this session rejects new requests while one is queued or running';
    END IF;
    v_user := v_session_user;
  END IF;

  IF v_reason IS NULL THEN
    -- A session preparing its workspace holds a worker like a run does: it counts as one; a
    -- request to that session does not count it again (the request waits for the preparation).
    -- Bounded in time: an older preparing row is a session whose workflow never started.
    SELECT (SELECT count(*) FROM runs r WHERE r.account_id = p_account_id AND r.status IN ({{active_statuses}}))
         + (SELECT count(*) FROM sessions s
              WHERE s.account_id = p_account_id AND s.status = 'open' AND s.workspace IS NOT NULL AND s.workspace_path IS NULL
                AND s.created_at > now() - interval '{{preparing_at_most}}' AND s.id IS DISTINCT FROM p_session_id)
      INTO v_active;
    IF v_active >= v_cap THEN
      v_reason := 'too-many-active-runs';
      v_detail := format('the account already has %s active runs (maximum %s)', v_active, v_cap);
    END IF;
  END IF;
  IF v_reason IS NULL AND v_user IS NOT NULL AND v_user_cap IS NOT NULL THEN
    SELECT (SELECT count(*) FROM runs r WHERE r.account_id = p_account_id AND r.user_id = v_user AND r.status IN ({{active_statuses}}))
         + (SELECT count(*) FROM sessions s
              WHERE s.account_id = p_account_id AND s.user_id = v_user AND s.status = 'open' AND s.workspace IS NOT NULL
                AND s.workspace_path IS NULL AND s.created_at > now() - interval '{{preparing_at_most}}'
                AND s.id IS DISTINCT FROM p_session_id)
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

  -- A refusal writes nothing.
  IF v_reason IS NOT NULL THEN
    RETURN QUERY SELECT 'refused'::text, v_reason, v_detail, v_balance, p_request_hash, NULL::timestamptz, NULL::bigint;
    RETURN;
  END IF;

  INSERT INTO runs (id, account_id, status, step, model, prompt, max_tokens, workspace, metadata,
                    session_id, request_id, retry_of, request_hash, estimate, price_input, price_output, last_event_id, user_id,
                    user_metadata, tools, max_steps, tool_price)
    VALUES (p_run_id, p_account_id, 'queued', 'reserve', p->>'model', p->>'prompt', (p->>'maxTokens')::integer,
            nullif(p->'workspace', 'null'), p->'metadata', p_session_id, p->>'requestId', p->>'retryOf', p_request_hash,
            p_estimate, (p->'price'->>'input')::integer, (p->'price'->>'output')::integer, 1, v_user,
            nullif(p->'userMetadata', 'null'), nullif(p->'agent'->'tools', 'null'), (p->'agent'->>'maxSteps')::integer,
            coalesce((p->'agent'->>'toolPrice')::integer, 0))
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
        VALUES (p_account_id, p_token_id, p_estimate, (p->'token'->>'expiresAt')::timestamptz)
        ON CONFLICT (account_id, token_id) DO UPDATE SET spent = t.spent + EXCLUDED.spent;
    END IF;
    IF v_user IS NOT NULL THEN
      -- Every period's window, whatever this token's period: another token of the same end
      -- user with another period sees this spend too.
      INSERT INTO end_user_spend AS u (account_id, user_id, period, window_start, spent)
        SELECT p_account_id, v_user, w.period, date_trunc(w.period, now() AT TIME ZONE 'UTC'), p_estimate
          FROM unnest(ARRAY['hour', 'day', 'week', 'month']) AS w(period)
        ON CONFLICT (account_id, user_id, period) DO UPDATE SET
          spent = CASE WHEN u.window_start = EXCLUDED.window_start THEN u.spent + EXCLUDED.spent ELSE EXCLUDED.spent END,
          window_start = EXCLUDED.window_start;
    END IF;
  END IF;
  INSERT INTO run_starts (run_id, sealed_secrets, available_at)
    VALUES (p_run_id, nullif(p->'sealedSecrets', 'null'),
            now() + make_interval(secs => coalesce((p->>'startAfterMs')::double precision, 0) / 1000));
  RETURN QUERY SELECT 'admitted'::text, NULL::text, NULL::text, v_balance, p_request_hash, v_created, v_seq;
END;
$fn$;
