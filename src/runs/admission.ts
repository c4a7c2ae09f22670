import { inAdmissionTransaction, type AdmissionQueries } from '../db/admission';
import type { Db } from '../db/database';
import type { Admission, AdmissionRejection, RunWorkflowInput } from '../../workflows/types';

/**
 * Admission in one transaction, decided exactly once per workflow execution. The API and the
 * run's first activity both call this (whichever comes first decides, the other reads the
 * decision), so a run is admitted even if the API dies after starting its workflow, and a refusal
 * the client saw is never overturned. The account row is locked first: concurrent starts of one
 * account are serialized and the balance can never go below zero.
 */
export async function admitRun(db: Db, input: RunWorkflowInput, executionId: string): Promise<Admission> {
  return inAdmissionTransaction(db, (q) => decide(q, input, executionId));
}

async function decide(q: AdmissionQueries, input: RunWorkflowInput, executionId: string): Promise<Admission> {
  const account = await q.lockAccount(input.accountId);
  const earlier = await earlierDecision(q, input.runId, executionId);
  if (earlier) return earlier;

  const refusal = (await sessionRefusal(q, input)) ?? (await capacityRefusal(q, input, account));
  if (refusal) {
    const [reason, detail] = refusal;
    // Recorded, so that the workflow's own call reads this refusal instead of deciding afresh.
    await q.insertRejection({ runId: input.runId, executionId, reason, detail, balance: account.balance, requestHash: input.requestHash });
    return { admitted: false, reason, requestHash: input.requestHash, balance: account.balance, detail };
  }
  const row = await q.insertRunAndReserve(input);
  return { admitted: true, requestHash: input.requestHash, createdAt: row.createdAt.toISOString(), seq: row.seq };
}

/** The decision an earlier call already made for this run (admitted) or this execution (refused). */
async function earlierDecision(q: AdmissionQueries, runId: string, executionId: string): Promise<Admission | undefined> {
  const existing = await q.findAdmittedRun(runId);
  if (existing) {
    return { admitted: true, requestHash: existing.requestHash, createdAt: existing.createdAt.toISOString(), seq: existing.seq };
  }
  const refused = await q.findRejection(runId, executionId);
  return refused && { admitted: false, ...refused };
}

type Refusal = [AdmissionRejection, string];

async function sessionRefusal(q: AdmissionQueries, input: RunWorkflowInput): Promise<Refusal | undefined> {
  if (!input.sessionId) return undefined;
  // Another account's session is exactly as unknown as a missing one.
  const session = await q.lockOwnedSession(input.sessionId, input.accountId);
  if (!session) return ['session-not-found', 'no such session'];
  if (session.status !== 'open') return ['session-closed', 'the session is closed'];
  if (session.multitask === 'reject' && (await q.sessionHasActiveRun(input.sessionId))) {
    return ['session-busy', 'this session rejects new requests while one is queued or running'];
  }
  return undefined;
}

async function capacityRefusal(
  q: AdmissionQueries,
  input: RunWorkflowInput,
  account: { balance: number; maxActiveRuns: number | null },
): Promise<Refusal | undefined> {
  const cap = account.maxActiveRuns ?? input.maxActiveRuns;
  const active = await q.countActiveRuns(input.accountId);
  if (Number(active) >= cap) {
    return ['too-many-active-runs', `the account already has ${active} active runs (maximum ${cap})`];
  }
  if (account.balance < input.estimate) {
    return ['insufficient-credits', `the run needs ${input.estimate} credits; the available balance is ${account.balance}`];
  }
  return undefined;
}
