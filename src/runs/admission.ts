import { admitInDatabase, type AdmissionCall, type AdmissionRequest } from '../db/admission';
import type { Db } from '../db/database';
import type { Admission } from '../../workflows/types';

/**
 * Admission, decided exactly once per run in one PostgreSQL transaction (the `runway_admit`
 * function, src/db/sql/runway_admit.sql). Its rules, in the order they are checked under the
 * account's row lock:
 * - a run that exists already is the earlier decision (an Idempotency-Key replay reads it);
 * - a run joining a session needs the caller's own session (another account's, or another end
 *   user's, reads as missing), open, and in `reject` mode idle;
 * - the account's active runs, sessions preparing a workspace included, stay under its cap
 *   (`max_active_runs`, else the platform default), and the end user's under theirs;
 * - a scoped token's own budget and its end user's budget for the period cover the estimate;
 * - the balance covers the estimate, which is then reserved.
 * An admitted run gets its `queued` event and its outbox entry: its workflow is started after the
 * commit (see RunLauncher). A refusal writes nothing.
 */
export async function admitRun(db: Db, request: AdmissionRequest, call: AdmissionCall = {}): Promise<Admission> {
  const decided = await admitInDatabase(db, request, call);
  if (decided.outcome === 'refused') {
    const { reason, detail, requestHash, balance } = decided;
    return { admitted: false, reason, detail, requestHash, balance };
  }
  return { admitted: true, requestHash: decided.requestHash, createdAt: decided.createdAt.toISOString(), seq: decided.seq };
}
