import type { Db } from '../db/database';
import { markRunStopping } from '../db/runs';
import type { RunRow } from '../db/schema';
import { isTerminal } from '../../workflows/run-vocabulary';
import type { Client } from '@temporalio/client';
import { stopSignal } from '../../workflows/definitions';
import { RunEnded } from './errors';

/**
 * Asks a run to stop: it reads `stopping` at once, and the workflow is signalled (a signal, not
 * an update: it is durable even while no worker is up). RunEnded once the run has ended.
 */
export async function stopRun(deps: { db: Db; temporal: Client }, run: RunRow): Promise<void> {
  if (isTerminal(run.status)) {
    throw new RunEnded(run.status);
  }
  if (run.status !== 'stopping' && !(await markRunStopping(deps.db, run.id))) {
    throw new RunEnded();
  }
  await deps.temporal.workflow.getHandle(run.id).signal(stopSignal, { reason: 'api' });
}
