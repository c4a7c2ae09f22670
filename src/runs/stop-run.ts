import { problems } from '../api/problem';
import type { Db } from '../db/database';
import { markRunStopping } from '../db/runs';
import { TERMINAL_STATUSES, type RunRow } from '../db/schema';
import type { Client } from '@temporalio/client';
import { stopSignal } from '../../workflows/definitions';

/**
 * Asks a run to stop: it reads `stopping` at once, and the workflow is signalled (a signal, not
 * an update: it is durable even while no worker is up). 409 once the run has ended.
 */
export async function stopRun(deps: { db: Db; temporal: Client }, run: RunRow): Promise<void> {
  if ((TERMINAL_STATUSES as string[]).includes(run.status)) {
    throw problems.conflict('run-terminal', `the run has already ended (${run.status})`);
  }
  if (run.status !== 'stopping' && !(await markRunStopping(deps.db, run.id))) {
    throw problems.conflict('run-terminal', 'the run has already ended');
  }
  await deps.temporal.workflow.getHandle(run.id).signal(stopSignal, { reason: 'api' });
}
