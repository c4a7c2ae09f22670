import { admitInDatabase, type AdmissionCall } from '../db/admission';
import type { Db } from '../db/database';
import type { Admission, RunWorkflowInput } from '../../workflows/types';

/**
 * Admission, decided exactly once per run in one PostgreSQL transaction (the `runway_admit`
 * function). Its rules, in the order they are checked under the account's row lock:
 * - a run that exists already is the earlier decision (an Idempotency-Key replay reads it);
 * - a run joining a session needs the caller's own session (another account's reads as missing),
 *   open, and in `reject` mode idle;
 * - the account's active runs stay under its cap (`max_active_runs`, else the platform default);
 * - the balance covers the estimate, which is then reserved.
 * An admitted run gets its `queued` event and, when the API admits it, its outbox entry: its
 * workflow is started after the commit (see RunLauncher). A refusal writes nothing.
 */
export async function admitRun(db: Db, input: RunWorkflowInput, call: AdmissionCall = {}): Promise<Admission> {
  const decided = await admitInDatabase(db, input, call);
  if (decided.outcome === 'refused') {
    const { reason, detail, requestHash, balance } = decided;
    return { admitted: false, reason, detail, requestHash, balance };
  }
  return { admitted: true, requestHash: decided.requestHash, createdAt: decided.createdAt.toISOString(), seq: decided.seq };
}
