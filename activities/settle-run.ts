import { settleRunRecord, type SettleOutcome } from '../src/db/runs';
import type { SettleInput } from '../workflows/types';
import type { ActivityDeps } from './deps';

/** Charges what was used, refunds the rest of the reservation, and ends the run: exactly once. */
export function settleRunActivity(deps: ActivityDeps) {
  return async function settleRun(input: SettleInput): Promise<SettleOutcome | null> {
    return settleRunRecord(deps.db, input);
  };
}
