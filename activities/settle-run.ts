import { settleRunRecord, type SettleOutcome } from '../src/db/runs';
import type { SettleInput } from '../workflows/types';
import type { ActivityDeps } from './deps';
import { failFastOnDataErrors } from './final-errors';

/** Charges what was used, refunds the rest of the reservation, and ends the run: exactly once. */
export function settleRunActivity(deps: ActivityDeps) {
  return async function settleRun(input: SettleInput): Promise<SettleOutcome | null> {
    return failFastOnDataErrors(() => settleRunRecord(deps.db, input));
  };
}
