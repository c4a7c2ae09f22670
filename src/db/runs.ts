import { sql, type Transaction } from 'kysely';
import type { Db } from './database';
import { applyLedgerChange } from './ledger';
import { appendEvents, runStream, type NewRunEvent } from './run-events';
import { outputOfRunSql } from './run-output';
import { ACTIVE_STATUSES, isTerminal, shownStatus, TERMINAL_STATUSES } from '../../workflows/run-vocabulary';
import type { Database, RunRow, RunStatus, RunStep } from './schema';
import { costOf } from '../pricing';
import { safeJson } from '../text';
import { runVisibleTo, type Visibility } from './visibility';
import { createRunDeliveries } from './webhooks';
import type { SettleInput } from '../../workflows/types';

/**
 * Moves a run to a new step. A run being stopped keeps showing `stopping`. Emits a `status`
 * event only when something visible changed, so a retried activity does not repeat it. False
 * when the run has ended already (stopped before its workflow started): nothing is changed.
 */
export async function enterRunStep(db: Db, runId: string, status: RunStatus, step: RunStep): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const run = await trx
      .selectFrom('runs')
      .select(['status', 'step', 'started_at'])
      .where('id', '=', runId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (isTerminal(run.status)) return false;
    const shown = shownStatus(run.status, status);
    if (run.status === shown && run.step === step) return true;
    await trx
      .updateTable('runs')
      .set({ status: shown, step, progress: null, started_at: run.started_at ?? new Date() })
      .where('id', '=', runId)
      .execute();
    await appendEvents(trx, runStream(runId), [{ type: 'status', data: { status: shown, step } }]);
    return true;
  });
}

export interface SettleOutcome {
  charged: number;
  refunded: number;
}

/** A settlement as the database saw it: `settledNow` when this call did it (not an earlier one). */
export interface Settlement extends SettleOutcome {
  settledNow: boolean;
}

/**
 * Charges what the run used and refunds the rest of its reservation, sets its terminal status
 * and writes its closing events: all in one transaction, exactly once. Usage the provider
 * reported beyond the reservation (its count exceeded the estimate) is charged too, as an
 * `overrun` ledger entry that lowers the balance, below zero if need be, by that much only.
 */
export async function settleRunRecord(db: Db, input: SettleInput): Promise<Settlement | null> {
  return db.transaction().execute((trx) => settleRunIn(trx, input));
}

/** The same inside the caller's transaction (a stop before the workflow started settles so). */
export async function settleRunIn(trx: Transaction<Database>, input: SettleInput): Promise<Settlement | null> {
  const run = await trx.selectFrom('runs').selectAll().where('id', '=', input.runId).forUpdate().executeTakeFirst();
  if (!run) return null; // never admitted: nothing was reserved
  if (run.charged !== null && run.refunded !== null) return { charged: run.charged, refunded: run.refunded, settledNow: false };
  // An agent run's tool steps are billed with its tokens (tool_cost is 0 for plain runs).
  const used = costOf(
    { input: run.price_input, output: run.price_output },
    { inputTokens: run.input_tokens, outputTokens: run.output_tokens },
  ) + run.tool_cost;
  const withinEstimate = Math.min(used, run.estimate);
  const overrun = used - withinEstimate;
  const charged = withinEstimate + overrun;
  const refunded = run.estimate - withinEstimate;
  await applyLedgerChange(trx, {
    accountId: run.account_id,
    kind: 'charge',
    amount: withinEstimate,
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
  if (overrun > 0) {
    await applyLedgerChange(trx, {
      accountId: run.account_id,
      kind: 'overrun',
      amount: overrun,
      runId: run.id,
      idempotencyKey: `${run.id}:overrun`,
      reason: `usage of ${used} credits above the reservation of ${run.estimate}`,
    });
  }
  await trx
    .updateTable('runs')
    .set({
      status: input.status,
      step: run.workspace_path ? 'cleanup' : 'done',
      progress: null,
      charged,
      refunded,
      overrun,
      output: outputOfRunSql(run.id),
      truncated: input.truncated,
      error: input.error ? safeJson(input.error) : null,
      completed_at: new Date(),
    })
    .where('id', '=', run.id)
    .execute();
  await createRunDeliveries(trx, run.id);
  const events: NewRunEvent[] = [
    { type: 'usage', data: { inputTokens: run.input_tokens, outputTokens: run.output_tokens } },
  ];
  if (input.error) events.push({ type: 'error', data: { ...input.error } });
  events.push({ type: 'status', data: { status: input.status, step: 'settle' } });
  events.push({ type: 'end', data: { status: input.status } });
  await appendEvents(trx, runStream(run.id), events);
  return { charged, refunded, settledNow: true };
}

export async function getRunById(db: Db, runId: string): Promise<RunRow | undefined> {
  return db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirst();
}

/** A run as the caller may see it: another account's run, or one outside a token's scope, is missing. */
export async function getVisibleRun(db: Db, v: Visibility, runId: string): Promise<RunRow | undefined> {
  return db.selectFrom('runs').selectAll().where('id', '=', runId).where(runVisibleTo(v)).executeTakeFirst();
}

export interface RunListQuery {
  limit: number;
  /** Only runs older than this `seq` (the cursor). */
  beforeSeq?: number;
  status?: RunStatus;
  sessionId?: string;
  user?: string;
}

export async function listVisibleRuns(db: Db, v: Visibility, q: RunListQuery): Promise<RunRow[]> {
  let query = db.selectFrom('runs').selectAll().where(runVisibleTo(v));
  if (q.status) query = query.where('status', '=', q.status);
  if (q.sessionId) query = query.where('session_id', '=', q.sessionId);
  if (q.user) query = query.where('user_id', '=', q.user);
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
      await appendEvents(trx, runStream(runId), [{ type: 'status', data: { status: 'stopping', step: run.step } }]);
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

/** The session request a run serves (`req_…`), or null. */
export async function getRunRequestId(db: Db, runId: string): Promise<string | null> {
  const row = await db.selectFrom('runs').select('request_id').where('id', '=', runId).executeTakeFirst();
  return row?.request_id ?? null;
}

/** Runs not finished yet, all accounts (for the metrics). */
export async function countActiveRuns(db: Db): Promise<number> {
  const row = await db
    .selectFrom('runs')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('status', 'in', ACTIVE_STATUSES)
    .executeTakeFirstOrThrow();
  return row.n;
}
