import { sql } from 'kysely';
import type { Db } from './database';
import { applyLedgerChange } from './ledger';
import { appendRunEvents, type NewRunEvent } from './run-events';
import { outputOfRunSql } from './run-output';
import { ACTIVE_STATUSES, TERMINAL_STATUSES, type RunError, type RunRow, type RunStatus, type RunStep } from './schema';
import { costOf } from '../pricing';
import { safeJson } from '../text';
import type { Admission, AdmissionRejection, RunWorkflowInput, TerminalStatus } from '../../workflows/types';

/**
 * Admission in one transaction, decided exactly once per workflow execution. The API and the
 * run's first activity both call this (whichever comes first decides, the other reads the
 * decision), so a run is admitted even if the API dies after starting its workflow, and a refusal
 * the client saw is never overturned. The account row is locked first: concurrent starts of one
 * account are serialized and the balance can never go below zero.
 */
export async function admitRun(db: Db, input: RunWorkflowInput, executionId: string): Promise<Admission> {
  return db.transaction().execute(async (trx) => {
    const account = await trx
      .selectFrom('accounts')
      .select(['balance', 'max_active_runs'])
      .where('id', '=', input.accountId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const existing = await trx
      .selectFrom('runs')
      .select(['request_hash', 'created_at', 'seq'])
      .where('id', '=', input.runId)
      .executeTakeFirst();
    if (existing) {
      return { admitted: true, requestHash: existing.request_hash, createdAt: existing.created_at.toISOString(), seq: existing.seq };
    }
    const refused = await trx
      .selectFrom('admission_rejections')
      .selectAll()
      .where('run_id', '=', input.runId)
      .where('execution_id', '=', executionId)
      .executeTakeFirst();
    if (refused) {
      return {
        admitted: false,
        reason: refused.reason as AdmissionRejection,
        requestHash: refused.request_hash,
        balance: refused.balance,
        detail: refused.detail,
      };
    }

    const refuse = async (reason: AdmissionRejection, detail: string): Promise<Admission> => {
      await trx
        .insertInto('admission_rejections')
        .values({ run_id: input.runId, execution_id: executionId, reason, detail, balance: account.balance, request_hash: input.requestHash })
        .execute();
      return { admitted: false, reason, requestHash: input.requestHash, balance: account.balance, detail };
    };

    if (input.sessionId) {
      // Another account's session is exactly as unknown as a missing one.
      const session = await trx
        .selectFrom('sessions')
        .select(['status', 'multitask'])
        .where('id', '=', input.sessionId)
        .where('account_id', '=', input.accountId)
        .forUpdate()
        .executeTakeFirst();
      if (!session) return refuse('session-not-found', 'no such session');
      if (session.status !== 'open') return refuse('session-closed', 'the session is closed');
      if (session.multitask === 'reject') {
        const busy = await trx
          .selectFrom('runs')
          .select('id')
          .where('session_id', '=', input.sessionId)
          .where('status', 'in', ACTIVE_STATUSES)
          .executeTakeFirst();
        if (busy) return refuse('session-busy', 'this session rejects new requests while one is queued or running');
      }
    }
    const cap = account.max_active_runs ?? input.maxActiveRuns;
    const active = await trx
      .selectFrom('runs')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('account_id', '=', input.accountId)
      .where('status', 'in', ACTIVE_STATUSES)
      .executeTakeFirstOrThrow();
    if (Number(active.n) >= cap) {
      return refuse('too-many-active-runs', `the account already has ${active.n} active runs (maximum ${cap})`);
    }
    if (account.balance < input.estimate) {
      return refuse('insufficient-credits', `the run needs ${input.estimate} credits; the available balance is ${account.balance}`);
    }
    const row = await trx
      .insertInto('runs')
      .values({
        id: input.runId,
        account_id: input.accountId,
        status: 'queued',
        step: 'reserve',
        model: input.model,
        prompt: input.prompt,
        max_tokens: input.maxTokens,
        workspace: input.workspace ? JSON.stringify(input.workspace) : null,
        metadata: JSON.stringify(input.metadata),
        session_id: input.sessionId,
        request_id: input.requestId ?? null,
        retry_of: input.retryOf,
        request_hash: input.requestHash,
        estimate: input.estimate,
        price_input: input.price.input,
        price_output: input.price.output,
      })
      .returning(['created_at', 'seq'])
      .executeTakeFirstOrThrow();
    await applyLedgerChange(trx, {
      accountId: input.accountId,
      kind: 'reserve',
      amount: input.estimate,
      runId: input.runId,
      idempotencyKey: `${input.runId}:reserve`,
    });
    await appendRunEvents(trx, input.runId, [{ type: 'status', data: { status: 'queued', step: 'reserve' } }]);
    return { admitted: true, requestHash: input.requestHash, createdAt: row.created_at.toISOString(), seq: row.seq };
  });
}

/**
 * Moves a run to a new step. A run being stopped keeps showing `stopping`. Emits a `status`
 * event only when something visible changed, so a retried activity does not repeat it.
 */
export async function enterRunStep(db: Db, runId: string, status: RunStatus, step: RunStep): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const run = await trx
      .selectFrom('runs')
      .select(['status', 'step', 'started_at'])
      .where('id', '=', runId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if ((TERMINAL_STATUSES as string[]).includes(run.status)) return;
    const shown: RunStatus = run.status === 'stopping' ? 'stopping' : status;
    if (run.status === shown && run.step === step) return;
    await trx
      .updateTable('runs')
      .set({ status: shown, step, progress: null, started_at: run.started_at ?? new Date() })
      .where('id', '=', runId)
      .execute();
    await appendRunEvents(trx, runId, [{ type: 'status', data: { status: shown, step } }]);
  });
}

export interface SettleOutcome {
  charged: number;
  refunded: number;
}

/**
 * Charges what the run used (never more than its estimate) and refunds the rest, sets its
 * terminal status and writes its closing events: all in one transaction, exactly once.
 */
export async function settleRunRecord(
  db: Db,
  input: { runId: string; status: TerminalStatus; error: RunError | null; truncated: boolean },
): Promise<SettleOutcome | null> {
  return db.transaction().execute(async (trx) => {
    const run = await trx.selectFrom('runs').selectAll().where('id', '=', input.runId).forUpdate().executeTakeFirst();
    if (!run) return null; // never admitted: nothing was reserved
    if (run.charged !== null && run.refunded !== null) return { charged: run.charged, refunded: run.refunded };
    const used = costOf(
      { input: run.price_input, output: run.price_output },
      { inputTokens: run.input_tokens, outputTokens: run.output_tokens },
    );
    const charged = Math.min(used, run.estimate);
    const refunded = run.estimate - charged;
    await applyLedgerChange(trx, {
      accountId: run.account_id,
      kind: 'charge',
      amount: charged,
      runId: run.id,
      idempotencyKey: `${run.id}:charge`,
    });
    await applyLedgerChange(trx, {
      accountId: run.account_id,
      kind: 'refund',
      amount: refunded,
      runId: run.id,
      idempotencyKey: `${run.id}:refund`,
    });
    await trx
      .updateTable('runs')
      .set({
        status: input.status,
        step: run.workspace_path ? 'cleanup' : 'done',
        progress: null,
        charged,
        refunded,
        output: outputOfRunSql(run.id),
        truncated: input.truncated,
        error: input.error ? safeJson(input.error) : null,
        completed_at: new Date(),
      })
      .where('id', '=', run.id)
      .execute();
    const events: NewRunEvent[] = [
      { type: 'usage', data: { inputTokens: run.input_tokens, outputTokens: run.output_tokens } },
    ];
    if (input.error) events.push({ type: 'error', data: { ...input.error } });
    events.push({ type: 'status', data: { status: input.status, step: 'settle' } });
    events.push({ type: 'end', data: { status: input.status } });
    await appendRunEvents(trx, run.id, events);
    return { charged, refunded };
  });
}

export async function getRunById(db: Db, runId: string): Promise<RunRow | undefined> {
  return db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirst();
}

/** A run as its owner may see it: another account's run is treated exactly as a missing one. */
export async function getOwnedRun(db: Db, accountId: string, runId: string): Promise<RunRow | undefined> {
  return db
    .selectFrom('runs')
    .selectAll()
    .where('id', '=', runId)
    .where('account_id', '=', accountId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

export interface RunListQuery {
  limit: number;
  /** Only runs older than this `seq` (the cursor). */
  beforeSeq?: number;
  status?: RunStatus;
  sessionId?: string;
}

export async function listOwnedRuns(db: Db, accountId: string, q: RunListQuery): Promise<RunRow[]> {
  let query = db
    .selectFrom('runs')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('deleted_at', 'is', null);
  if (q.status) query = query.where('status', '=', q.status);
  if (q.sessionId) query = query.where('session_id', '=', q.sessionId);
  if (q.beforeSeq !== undefined) query = query.where('seq', '<', q.beforeSeq);
  return query.orderBy('seq', 'desc').limit(q.limit).execute();
}

/** NOTIFY channel of stop requests; the payload is the run id. */
export const RUN_STOP_CHANNEL = 'runway_run_stop';

/** Marks an active run as stopping. Returns the run, or undefined when it was already terminal. */
export async function markRunStopping(db: Db, runId: string): Promise<RunRow | undefined> {
  return db.transaction().execute(async (trx) => {
    const run = await trx
      .updateTable('runs')
      .set({ status: 'stopping' })
      .where('id', '=', runId)
      .where('status', 'in', ['queued', 'preparing', 'running'])
      .returningAll()
      .executeTakeFirst();
    if (run) {
      await appendRunEvents(trx, runId, [{ type: 'status', data: { status: 'stopping', step: run.step } }]);
      // Sent on commit: the worker executing the run aborts the model call without waiting for
      // the workflow's cancellation to reach it (src/worker/run-stop-listener.ts).
      await sql`select pg_notify(${RUN_STOP_CHANNEL}, ${runId})`.execute(trx);
    }
    return run;
  });
}

/** Hides a terminal run from its owner; its ledger rows stay, as the ledger is append-only. */
export async function softDeleteRun(db: Db, runId: string): Promise<boolean> {
  const res = await db
    .updateTable('runs')
    .set({ deleted_at: new Date() })
    .where('id', '=', runId)
    .where('status', 'in', TERMINAL_STATUSES)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
