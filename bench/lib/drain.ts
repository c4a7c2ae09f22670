import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Db } from '../../src/db/database';
import { ACTIVE_STATUSES } from '../../workflows/run-vocabulary';

async function activeRuns(db: Db): Promise<number> {
  const row = await db
    .selectFrom('runs')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('status', 'in', ACTIVE_STATUSES)
    .where('request_hash', '!=', 'bench')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Waits until no real run is active (fixture rows, `request_hash = 'bench'`, are not runs), so
 * that one bench's leftover work does not weigh on the next one's figures. A backlog of
 * thousands takes minutes here, so it gives up only when nothing has finished for `stallMs`.
 */
export async function waitForRunsToDrain(db: Db, stallMs = 60_000, log?: (msg: string) => void): Promise<void> {
  let active = await activeRuns(db);
  let progressAt = Date.now();
  let loggedAt = Date.now();
  while (active > 0) {
    await sleep(250);
    const now = await activeRuns(db);
    if (now < active) progressAt = Date.now();
    active = now;
    if (Date.now() - progressAt > stallMs) throw new Error(`${active} runs still active and none finished for ${stallMs} ms`);
    if (log && Date.now() - loggedAt > 15_000) {
      log(`waiting for ${active} runs to finish`);
      loggedAt = Date.now();
    }
  }
}

/**
 * Waits until no workflow on `taskQueue` is running (the bench's own floor workflows: each still
 * needs its workflow tasks after its start was measured, and would load the next measurement).
 */
export async function waitForWorkflowsToClose(client: Client, taskQueue: string, stallMs = 60_000): Promise<void> {
  const query = `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`;
  let running = (await client.workflow.count(query)).count;
  let progressAt = Date.now();
  while (running > 0) {
    await sleep(250);
    const now = (await client.workflow.count(query)).count;
    if (now < running) progressAt = Date.now();
    running = now;
    if (Date.now() - progressAt > stallMs) throw new Error(`${running} workflows still running on ${taskQueue}`);
  }
}
