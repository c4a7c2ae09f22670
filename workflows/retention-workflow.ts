import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { RunwayActivities } from '../activities';
import type { PurgedCounts } from '../src/db/retention';

export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';

const { purgeExpired } = proxyActivities<RunwayActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  // A purge that keeps failing waits for the next scheduled one instead of retrying forever.
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

/**
 * Started by the retention Schedule (src/worker/retention-schedule.ts): purges until nothing
 * expired is left. A purge that ran out of its time budget first goes on at once in a fresh
 * history (the Schedule skips its ticks meanwhile). Results of purges recorded before
 * `caughtUp` existed carry none: such a history ends as it did.
 */
export async function retentionWorkflow(): Promise<PurgedCounts> {
  const { caughtUp, ...purged } = await purgeExpired();
  if (caughtUp === false) await continueAsNew<typeof retentionWorkflow>();
  return purged;
}
