import { Context } from '@temporalio/activity';
import { setTimeout as sleep } from 'node:timers/promises';
import { pingDatabase } from '../src/db/database';
import { isDatabaseUnavailable } from '../src/db/errors';
import type { ActivityDeps } from './deps';

/** How long an attempt that lost the database waits for it before its failure goes to Temporal. */
const OUTAGE_WAIT_MS = 10 * 60_000;

/**
 * An attempt that failed because PostgreSQL was unreachable waits, heartbeating, until it answers
 * again (at most 10 minutes), then fails as it would have: the retry starts against a database
 * that is back. An outage thus costs a step one attempt of its bounded few, however long it lasts.
 */
export function outlastingDatabaseOutages<A extends unknown[], R>(deps: ActivityDeps, step: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await step(...args);
    } catch (err) {
      if (isDatabaseUnavailable(err)) await untilDatabaseAnswers(deps);
      throw err;
    }
  };
}

async function untilDatabaseAnswers(deps: ActivityDeps): Promise<void> {
  const ctx = Context.current();
  const deadline = Date.now() + OUTAGE_WAIT_MS;
  deps.logger.warn({ activity: ctx.info.activityType, workflowId: ctx.info.workflowExecution?.workflowId }, 'database unavailable; waiting for it before the next attempt');
  while (Date.now() < deadline && !ctx.cancellationSignal.aborted) {
    ctx.heartbeat();
    try {
      await pingDatabase(deps.db);
      return;
    } catch (err) {
      if (!isDatabaseUnavailable(err)) return; // answering again, if oddly: the retry will tell
    }
    await sleep(1000, undefined, { signal: ctx.cancellationSignal }).catch(() => undefined);
  }
}
