import { sql } from 'kysely';
import type { Db } from './database';
import type { TokenSpender } from '../runs/token-limits';
import type { AdmissionRejection, AdmissionRequest } from '../runs/admission';

/** What `runway_admit` (migration 0010) decided. */
export type AdmissionOutcome =
  | { outcome: 'admitted' | 'existing'; requestHash: string; createdAt: Date; seq: number }
  | { outcome: 'refused'; reason: AdmissionRejection; detail: string; requestHash: string; balance: number };

export interface AdmissionCall {
  /**
   * The workflow execution deciding for itself (a run whose workflow was started before its
   * admission, as before the outbox): its refusal is recorded for its retries, and no outbox
   * entry is written. Absent for the API, whose admission writes the outbox entry.
   */
  executionId?: string;
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

/**
 * One round trip, one transaction: the account's checks, the run, its reservation, its first
 * event and its outbox entry (the rules are in the function; see its migration for why).
 */
export async function admitInDatabase(db: Db, input: AdmissionRequest, call: AdmissionCall = {}): Promise<AdmissionOutcome> {
  const { rows } = await sql<Row>`
    SELECT * FROM runway_admit(
      ${input.runId}, ${input.accountId}, ${input.model}, ${input.prompt}, ${input.maxTokens},
      ${input.workspace ? JSON.stringify(input.workspace) : null}::jsonb, ${JSON.stringify(input.metadata)}::jsonb,
      ${input.sessionId}, ${input.requestId ?? null}, ${input.retryOf}, ${input.requestHash},
      ${input.estimate}, ${input.price.input}, ${input.price.output}, ${input.maxActiveRuns},
      ${call.executionId ?? null}, ${input.sealedSecrets ? JSON.stringify(input.sealedSecrets) : null}::jsonb,
      ${`${call.startAfterMs ?? 0} milliseconds`}::interval,
      ${input.user ?? null}, ${input.maxActiveRunsPerUser ?? null}::integer,
      ${call.userMetadata ? JSON.stringify(call.userMetadata) : null}::jsonb,
      ${call.token?.tokenId ?? null}, ${call.token?.expiresAt ?? null}::timestamptz,
      ${call.token?.limits.budget ?? null}::bigint, ${call.token?.limits.userBudget?.credits ?? null}::bigint,
      ${call.token?.limits.userBudget?.period ?? null}
    )`.execute(db);
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
