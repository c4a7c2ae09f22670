import { Context } from '@temporalio/activity';
import { countExpired, purgeFinishedBatch, type PurgedCounts } from '../src/db/retention';
import { metrics } from '../src/metrics/metrics';
import type { ActivityDeps } from './deps';

/** A purge that takes longer than this makes way (continue-as-new) before its 30-minute timeout. */
const DEFAULT_BUDGET_MS = 20 * 60_000;
/** The backlog gauge counts at most this many rows (an index range scan). */
const BACKLOG_CAP = 1_000_000;

/**
 * Purges finished work older than the retention period, batch by batch (each its own short
 * transaction, so no lock is held long), heartbeating between batches, until nothing expired is
 * left or its time budget is spent; then `caughtUp` tells its workflow whether to go on at once.
 * A fixed number of batches an hour fell behind anything that finishes runs faster than that.
 */
export function retentionActivities(deps: ActivityDeps) {
  return {
    async purgeExpired(): Promise<PurgedCounts> {
      const settings = deps.retention;
      const total: PurgedCounts = { runs: 0, sessions: 0, events: 0, deliveries: 0 };
      if (!settings || settings.days <= 0) return { ...total, caughtUp: true };
      const cutoff = new Date(Date.now() - settings.days * 86_400_000);
      const until = Date.now() + (settings.budgetMs ?? DEFAULT_BUDGET_MS);
      let backlog = await countExpired(deps.db, cutoff, BACKLOG_CAP);
      metrics.retentionBacklog.set(backlog);
      let caughtUp = false;
      for (;;) {
        const purged = await purgeFinishedBatch(deps.db, cutoff, settings.batchSize);
        for (const key of ['runs', 'sessions', 'events', 'deliveries'] as const) total[key] += purged[key];
        backlog = Math.max(0, backlog - purged.runs - purged.sessions);
        metrics.retentionBacklog.set(backlog);
        Context.current().heartbeat(total);
        if (purged.runs < settings.batchSize && purged.sessions < settings.batchSize) {
          caughtUp = true;
          break;
        }
        // Cancelled (or timed out, its retry already running), or out of time: stop between batches.
        if (Context.current().cancellationSignal.aborted || Date.now() >= until) break;
      }
      metrics.retentionBacklog.set(await countExpired(deps.db, cutoff, BACKLOG_CAP));
      deps.logger.info({ ...total, caughtUp, cutoff: cutoff.toISOString() }, 'retention purge finished');
      return { ...total, caughtUp };
    },
  };
}
