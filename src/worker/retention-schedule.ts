import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RetentionSettings } from '../config';
import type { Logger } from '../logger';
import { RETENTION_WORKFLOW_TYPE } from '../../workflows/retention-workflow';

/** One schedule per task queue: the workers of that queue run its purges. */
export const retentionScheduleId = (taskQueue: string) => `runway-retention:${taskQueue}`;

/**
 * The Temporal Schedule that purges finished work every hour. Registered by every worker at
 * start, idempotently: created when missing, otherwise updated to this worker's settings (the
 * same for every worker of a deployment); deleted when retention is off (0 days).
 */
export async function ensureRetentionSchedule(client: Client, taskQueue: string, settings: RetentionSettings): Promise<'created' | 'updated' | 'deleted' | 'off'> {
  const scheduleId = retentionScheduleId(taskQueue);
  if (settings.days <= 0) {
    try {
      await client.schedule.getHandle(scheduleId).delete();
      return 'deleted';
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return 'off';
      throw err;
    }
  }
  const options = {
    scheduleId,
    spec: { intervals: [{ every: '1 hour' }] },
    action: {
      type: 'startWorkflow',
      workflowType: RETENTION_WORKFLOW_TYPE,
      taskQueue,
      args: [],
      // Never waits forever for a worker: a purge not done in a day makes way for the next one.
      workflowExecutionTimeout: '1 day',
    },
    policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
  } satisfies ScheduleOptions;
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: options.policies }));
  return 'updated';
}

/**
 * `ensureRetentionSchedule` in the background of a starting worker: a few tries, then a logged
 * error. `signal` (the worker stopping) ends it, its call in flight included, so nothing of it
 * outlives the worker's Temporal connection.
 */
export async function registerRetentionSchedule(client: Client, taskQueue: string, settings: RetentionSettings, logger: Logger, signal: AbortSignal): Promise<void> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      const outcome = await client.withAbortSignal(signal, () => ensureRetentionSchedule(client, taskQueue, settings));
      logger.info({ scheduleId: retentionScheduleId(taskQueue), outcome, days: settings.days }, 'retention schedule registered');
      return;
    } catch (err) {
      if (signal.aborted) return; // the worker stopped first: the next one registers it
      if (attempt >= 5) {
        logger.error({ err }, 'could not register the retention schedule; finished work is not purged until a worker registers it');
        return;
      }
      await sleep(1000 * 2 ** attempt, undefined, { signal }).catch(() => undefined);
    }
  }
}
