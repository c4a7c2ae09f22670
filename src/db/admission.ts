import { sql } from 'kysely';
import type { Db } from './database';
import type { TokenSpender } from '../runs/token-limits';
import type { AdmissionRejection, AdmissionRequest } from '../runs/admission';

/** What `runway_admit` (src/db/sql/runway_admit.sql) decided. */
export type AdmissionOutcome =
  | { outcome: 'admitted' | 'existing'; requestHash: string; createdAt: Date; seq: number }
  | { outcome: 'refused'; reason: AdmissionRejection; detail: string; requestHash: string; balance: number };

export interface AdmissionCall {
  /** How long the admitting process has to start the workflow before a relay may. */
  startAfterMs?: number;
  /** The scoped token creating the run (absent: the account's key): its budgets are decided here. */
  token?: TokenSpender;
  /** Metadata its holder wrote, stored apart from the tenant's `metadata`. */
  userMetadata?: Record<string, unknown>;
}

interface Row {
  outcome: 'admitted' | 'existing' | 'refused';
  reason: string | null;
  detail: string | null;
  balance: string;
  request_hash: string;
  created_at: Date | null;
  seq: string | null;
}

/** The function's one argument (its keys are listed at the top of runway_admit.sql). */
function admissionArgument(request: AdmissionRequest, call: AdmissionCall): Record<string, unknown> {
  const { token } = call;
  return {
    runId: request.runId,
    accountId: request.accountId,
    model: request.model,
    prompt: request.prompt,
    maxTokens: request.maxTokens,
    workspace: request.workspace,
    metadata: request.metadata,
    sessionId: request.sessionId,
    requestId: request.requestId ?? null,
    retryOf: request.retryOf,
    requestHash: request.requestHash,
    estimate: request.estimate,
    price: request.price,
    sealedSecrets: request.sealedSecrets,
    startAfterMs: call.startAfterMs ?? 0,
    defaultMaxActiveRuns: request.maxActiveRuns,
    defaultMaxActiveRunsPerUser: request.maxActiveRunsPerUser ?? null,
    user: request.user ?? null,
    userMetadata: call.userMetadata ?? null,
    agent: request.agent,
    token: token
      ? { id: token.tokenId, expiresAt: token.expiresAt.toISOString(), budget: token.limits.budget ?? null, userBudget: token.limits.userBudget ?? null }
      : null,
  };
}

/**
 * One round trip, one transaction: the account's checks, the run, its reservation, its first
 * event and its outbox entry (the rules are in the function, src/db/sql/runway_admit.sql).
 */
export async function admitInDatabase(db: Db, request: AdmissionRequest, call: AdmissionCall = {}): Promise<AdmissionOutcome> {
  const { rows } = await sql<Row>`SELECT * FROM runway_admit(${JSON.stringify(admissionArgument(request, call))}::jsonb)`.execute(db);
  const row = rows[0];
  if (!row) throw new Error('runway_admit returned no row');
  if (row.outcome === 'refused') {
    return {
      outcome: 'refused',
      reason: row.reason as AdmissionRejection,
      detail: row.detail ?? '',
      requestHash: row.request_hash,
      balance: Number(row.balance),
    };
  }
  return {
    outcome: row.outcome,
    requestHash: row.request_hash,
    createdAt: row.created_at as Date,
    seq: Number(row.seq),
  };
}
