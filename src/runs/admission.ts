import type { AdmissionRefusal } from './errors';
import type { SealedBox, WorkspaceSpec } from '../../workflows/types';
import type { RunTool } from '../tools/types';

/**
 * Admission, decided exactly once per run in one PostgreSQL transaction (the `runway_admit`
 * function, src/db/sql/runway_admit.sql, called by src/db/admission.ts). Its rules, in the order
 * they are checked under the account's row lock (one row each in test/admission-rules.test.ts):
 * - a run that exists already is the earlier decision (an Idempotency-Key replay reads it);
 * - a run joining a session needs the caller's own session (another account's, or another end
 *   user's, reads as missing), open, and in `reject` mode idle;
 * - the account's active runs, sessions preparing a workspace included, stay under its cap
 *   (`max_active_runs`, else the platform default), and the end user's under theirs;
 * - a scoped token's own budget and its end user's budget for the period cover the estimate;
 * - the balance covers the estimate, which is then reserved.
 * An admitted run gets its row, its `queued` event and its outbox entry: its workflow is started
 * after the commit (see RunLauncher). A refusal writes nothing.
 */
export interface AdmissionRequest {
  runId: string;
  accountId: string;
  model: string;
  prompt: string;
  maxTokens: number;
  estimate: number;
  price: { input: number; output: number };
  workspace: WorkspaceSpec | null;
  metadata: Record<string, unknown>;
  sessionId: string | null;
  /** The session request (`req_…`) this run serves. */
  requestId: string | null;
  retryOf: string | null;
  /** Hash of the request body, compared when an Idempotency-Key is reused. */
  requestHash: string;
  /** The platform's default caps (an account's own caps come first). */
  maxActiveRuns: number;
  maxActiveRunsPerUser: number | null;
  sealedSecrets: SealedBox | null;
  /** The end user the run serves. */
  user: string | null;
  /** An agent run's tools (secrets sealed apart), turn limit and price per second of sandbox time; null: a plain run. */
  agent?: { tools: RunTool[]; maxSteps: number; toolPrice: number } | null;
}

/** Why admission said no: a refusal, or a session that is not the caller's to join. */
export type AdmissionRejection = AdmissionRefusal | 'session-not-found';
