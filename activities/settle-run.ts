import { settleRunRecord, type SettleOutcome } from '../src/db/runs';
import type { SettleInput } from '../workflows/types';
import type { ActivityDeps } from './deps';
import { failFastOnDataErrors } from './final-errors';
import { countSettlement } from '../src/metrics/metrics';

/** Charges what was used, refunds the rest of the reservation, and ends the run: exactly once. */
export function settleRunActivity(deps: ActivityDeps) {
  return async function settleRun(input: SettleInput): Promise<SettleOutcome | null> {
    const settlement = await failFastOnDataErrors(() => settleRunRecord(deps.db, input));
    countSettlement(input.status, settlement);
    // The workflow's history keeps what was billed, not who billed it.
    return settlement && { charged: settlement.charged, refunded: settlement.refunded };
  };
}
