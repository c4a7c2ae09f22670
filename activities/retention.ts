import { Context } from '@temporalio/activity';
import { purgeFinishedBatch, type PurgedCounts } from '../src/db/retention';
import type { ActivityDeps } from './deps';

/** Batches one purge may take; the next scheduled purge goes on where this one stopped. */
const MAX_BATCHES = 200;

/**
 * Purges finished work older than the retention period, batch by batch (each its own short
 * transaction, so no lock is held long), heartbeating between batches.
 */
export function retentionActivities(deps: ActivityDeps) {
  return {
    async purgeExpired(): Promise<PurgedCounts> {
      const settings = deps.retention;
      const total: PurgedCounts = { runs: 0, sessions: 0, events: 0, deliveries: 0 };
      if (!settings || settings.days <= 0) return total;
      const cutoff = new Date(Date.now() - settings.days * 86_400_000);
      for (let batch = 0; batch < MAX_BATCHES; batch++) {
        const purged = await purgeFinishedBatch(deps.db, cutoff, settings.batchSize);
        for (const key of Object.keys(total) as (keyof PurgedCounts)[]) total[key] += purged[key];
        Context.current().heartbeat(total);
        // Cancelled (or timed out, its retry already running): stop between batches.
        if (Context.current().cancellationSignal.aborted) break;
        if (purged.runs < settings.batchSize && purged.sessions < settings.batchSize) break;
      }
      deps.logger.info({ ...total, cutoff: cutoff.toISOString() }, 'retention purge finished');
      return total;
    },
  };
}
