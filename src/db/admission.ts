import type { Transaction } from 'kysely';
import type { Db } from './database';
import { applyLedgerChange } from './ledger';
import { appendEvents, runStream } from './run-events';
import type { Database, Multitask, SessionStatus } from './schema';
import { ACTIVE_STATUSES } from '../../workflows/run-vocabulary';
import type { AdmissionRejection, RunWorkflowInput } from '../../workflows/types';

/**
 * The statements of admission, without its rules (src/runs/admission.ts decides). They all run
 * in the one transaction `inAdmissionTransaction` opens, so the locks taken by the first ones
 * (account, session) hold until the decision is committed.
 */
export interface AdmissionQueries {
  /** Locks the account row: concurrent admissions of one account are serialized. */
  lockAccount(accountId: string): Promise<{ balance: number; maxActiveRuns: number | null }>;
  /** The run, when an earlier call already admitted it. */
  findAdmittedRun(runId: string): Promise<{ requestHash: string; createdAt: Date; seq: number } | undefined>;
  /** The refusal recorded for this workflow execution, if any. */
  findRejection(runId: string, executionId: string): Promise<RecordedRejection | undefined>;
  insertRejection(r: RecordedRejection & { runId: string; executionId: string }): Promise<void>;
  /** Locks the session when it belongs to the account. */
  lockOwnedSession(sessionId: string, accountId: string): Promise<{ status: SessionStatus; multitask: Multitask } | undefined>;
  /** Whether the session has a run queued or running. */
  sessionHasActiveRun(sessionId: string): Promise<boolean>;
  /** The count as PostgreSQL returns it (shown as is in the refusal's detail). */
  countActiveRuns(accountId: string): Promise<string>;
  /** Inserts the run, reserves its estimate and writes its first `status` event. */
  insertRunAndReserve(input: RunWorkflowInput): Promise<{ createdAt: Date; seq: number }>;
}

export interface RecordedRejection {
  reason: AdmissionRejection;
  requestHash: string;
  balance: number;
  detail: string;
}

export async function inAdmissionTransaction<T>(db: Db, decide: (q: AdmissionQueries) => Promise<T>): Promise<T> {
  return db.transaction().execute((trx) => decide(admissionQueries(trx)));
}

function admissionQueries(trx: Transaction<Database>): AdmissionQueries {
  return {
    lockAccount: async (accountId) => {
      const account = await trx
        .selectFrom('accounts')
        .select(['balance', 'max_active_runs'])
        .where('id', '=', accountId)
        .forUpdate()
        .executeTakeFirstOrThrow();
      return { balance: account.balance, maxActiveRuns: account.max_active_runs };
    },
    findAdmittedRun: async (runId) => {
      const run = await trx
        .selectFrom('runs')
        .select(['request_hash', 'created_at', 'seq'])
        .where('id', '=', runId)
        .executeTakeFirst();
      return run && { requestHash: run.request_hash, createdAt: run.created_at, seq: run.seq };
    },
    findRejection: async (runId, executionId) => {
      const refused = await trx
        .selectFrom('admission_rejections')
        .selectAll()
        .where('run_id', '=', runId)
        .where('execution_id', '=', executionId)
        .executeTakeFirst();
      return refused && {
        reason: refused.reason as AdmissionRejection,
        requestHash: refused.request_hash,
        balance: refused.balance,
        detail: refused.detail,
      };
    },
    insertRejection: async (r) => {
      await trx
        .insertInto('admission_rejections')
        .values({ run_id: r.runId, execution_id: r.executionId, reason: r.reason, detail: r.detail, balance: r.balance, request_hash: r.requestHash })
        .execute();
    },
    lockOwnedSession: (sessionId, accountId) =>
      trx
        .selectFrom('sessions')
        .select(['status', 'multitask'])
        .where('id', '=', sessionId)
        .where('account_id', '=', accountId)
        .forUpdate()
        .executeTakeFirst(),
    sessionHasActiveRun: async (sessionId) => {
      const busy = await trx
        .selectFrom('runs')
        .select('id')
        .where('session_id', '=', sessionId)
        .where('status', 'in', ACTIVE_STATUSES)
        .executeTakeFirst();
      return busy !== undefined;
    },
    countActiveRuns: async (accountId) => {
      const active = await trx
        .selectFrom('runs')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('account_id', '=', accountId)
        .where('status', 'in', ACTIVE_STATUSES)
        .executeTakeFirstOrThrow();
      return active.n;
    },
    insertRunAndReserve: (input) => insertRunAndReserve(trx, input),
  };
}

async function insertRunAndReserve(trx: Transaction<Database>, input: RunWorkflowInput): Promise<{ createdAt: Date; seq: number }> {
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
  await appendEvents(trx, runStream(input.runId), [{ type: 'status', data: { status: 'queued', step: 'reserve' } }]);
  return { createdAt: row.created_at, seq: row.seq };
}
