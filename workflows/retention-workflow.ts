import { proxyActivities } from '@temporalio/workflow';
import type { RunwayActivities } from '../activities';
import type { PurgedCounts } from '../src/db/retention';

export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';

const { purgeExpired } = proxyActivities<RunwayActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  // A purge that keeps failing waits for the next scheduled one instead of retrying forever.
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

/** Started by the retention Schedule (src/worker/retention-schedule.ts): one purge pass. */
export async function retentionWorkflow(): Promise<PurgedCounts> {
  return purgeExpired();
}
