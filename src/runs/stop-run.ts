import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/database';
import { endUnstartedRun } from '../db/run-starts';
import { countSettlement } from '../metrics/metrics';
import { markRunStopping } from '../db/runs';
import type { RunRow } from '../db/schema';
import { isTerminal } from '../../workflows/run-vocabulary';
import { stopSignal } from '../../workflows/definitions';
import { STOPPED_ERROR } from '../../workflows/types';
import { RunEnded, TemporalUnavailable } from './errors';

/**
 * Asks a run to stop. A run whose workflow has not been started yet ends `stopped` at once, its
 * whole reservation refunded, without a workflow (should a start race this, the workflow finds
 * the run stopped and executes nothing). Any other run reads `stopping` at once and its workflow
 * is signalled (a signal, not an update: it is durable even while no worker is up). RunEnded
 * once the run has ended.
 */
export async function stopRun(deps: { db: Db; temporal: Client }, run: RunRow): Promise<'stopped' | 'stopping'> {
  if (isTerminal(run.status)) {
    throw new RunEnded(run.status);
  }
  if (run.status === 'queued') {
    const ended = await endUnstartedRun(deps.db, run.id, 'stopped', STOPPED_ERROR);
    if (ended) {
      countSettlement('stopped', ended);
      return 'stopped';
    }
  }
  if (run.status !== 'stopping' && !(await markRunStopping(deps.db, run.id))) {
    throw new RunEnded();
  }
  try {
    await deps.temporal.workflow.getHandle(run.id).signal(stopSignal, { reason: 'api' });
  } catch (err) {
    // The worker heard the stop (its NOTIFY) and ended the run before the signal got there: done.
    if (err instanceof WorkflowNotFoundError) return 'stopping';
    // Recorded as stopping (the worker running it hears that at once); the workflow itself must
    // hear it too, so the client is told to ask again rather than that it was done.
    throw TemporalUnavailable.from(err);
  }
  return 'stopping';
}
