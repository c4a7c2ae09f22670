import { setTimeout as sleep } from 'node:timers/promises';
import { ScheduleNotFoundError } from '@temporalio/client';
import { sql } from 'kysely';
import { accountOf, bearer, createAccount, ledgerOf, startRun, waitForRun, type TestAccount } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';
import { ensureRetentionSchedule, retentionScheduleId } from '../src/worker/retention-schedule';
import { freePort } from '../src/temporal/dev-server';
import type { PurgedCounts } from '../src/db/retention';

/**
 * Retention (issue #20): the Schedule the worker registers purges finished work older than
 * RUNWAY_RETENTION_DAYS in bounded batches, keeps the ledger, and leaves alone what is not
 * finished: open sessions' runs, runs with a webhook delivery pending, recent runs.
 */
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({
    env: {
      RUNWAY_RETENTION_DAYS: '30',
      RUNWAY_RETENTION_BATCH: '1', // every row its own batch: the loop must go on until none is left
      RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true',
      RUNWAY_WEBHOOK_RETRY_SCHEDULE: '10h',
    },
  });
});
afterAll(async () => {
  await stack.stop();
});

async function finishedRun(account: TestAccount, prompt: string, headers: Record<string, string> = {}): Promise<string> {
  const started = await startRun(stack, account, { prompt, model: 'demo/echo', maxTokens: 16 }, headers);
  expect(started.status).toBe(202);
  await waitForRun(stack, account, started.body.id, (r) => r.status === 'succeeded' && r.step === 'done');
  return started.body.id;
}

async function sessionWithOneRequest(account: TestAccount, close: boolean): Promise<{ sessionId: string; runId: string }> {
  const session = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'demo/echo', maxTokens: 16 });
  expect(session.status).toBe(201);
  expect((await stack.http.post(`/v1/sessions/${session.body.id}/requests`).set(bearer(account)).send({ prompt: 'a turn' })).status).toBe(202);
  let runId: string | undefined;
  for (const deadline = Date.now() + 30_000; !runId && Date.now() < deadline; await sleep(50)) {
    const row = await stack.db.selectFrom('runs').select(['id', 'status', 'step']).where('session_id', '=', session.body.id).executeTakeFirst();
    if (row?.status === 'succeeded' && row.step === 'done') runId = row.id;
  }
  if (close) {
    expect((await stack.http.delete(`/v1/sessions/${session.body.id}`).set(bearer(account))).status).toBe(202);
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(50)) {
      const row = await stack.db.selectFrom('sessions').select('status').where('id', '=', session.body.id).executeTakeFirstOrThrow();
      if (row.status === 'closed') break;
    }
  }
  return { sessionId: session.body.id, runId: runId! };
}

const age = (table: 'runs' | 'sessions', column: 'completed_at' | 'closed_at', ids: string[]) =>
  sql`UPDATE ${sql.table(table)} SET ${sql.ref(column)} = now() - interval '40 days' WHERE id = ANY(${ids})`.execute(stack.db);

const rowCount = async (table: 'runs' | 'sessions', id: string) =>
  (await stack.db.selectFrom(table).select('id').where('id', '=', id).execute()).length;
const eventCount = async (streamId: string) =>
  (await stack.db.selectFrom('run_events').select('id').where('run_id', '=', streamId).execute()).length;

async function waitForSchedule(scheduleId: string) {
  const handle = stack.temporal.schedule.getHandle(scheduleId);
  for (const deadline = Date.now() + 30_000; ; await sleep(100)) {
    try {
      return { handle, description: await handle.describe() };
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError) || Date.now() > deadline) throw err;
    }
  }
}

/** Triggers the schedule now (as its hourly tick would) and returns what its workflow purged. */
async function purgeNow(scheduleId: string): Promise<PurgedCounts> {
  const { handle } = await waitForSchedule(scheduleId);
  const before = (await handle.describe()).info.recentActions.length;
  await handle.trigger();
  for (const deadline = Date.now() + 30_000; ; await sleep(100)) {
    const actions = (await handle.describe()).info.recentActions;
    if (actions.length > before) {
      const started = actions.at(-1)!.action;
      return stack.temporal.workflow.getHandle(started.workflow.workflowId, started.workflow.firstExecutionRunId).result();
    }
    if (Date.now() > deadline) throw new Error('the schedule did not start its workflow');
  }
}

test('the schedule purges aged finished runs, sessions and events, keeps the ledger and whatever is not finished', async () => {
  const account = await createAccount(stack, 10_000);
  const old = await finishedRun(account, 'old and finished', { 'idempotency-key': 'retention-key-1' });
  const recent = await finishedRun(account, 'recent');
  const closed = await sessionWithOneRequest(account, true);
  const open = await sessionWithOneRequest(account, false);
  // Another account whose endpoint never answers: its run's delivery stays pending.
  const waiting = await createAccount(stack, 10_000);
  const hook = await stack.http.post('/v1/webhooks').set(bearer(waiting)).send({ url: `http://127.0.0.1:${await freePort()}/hook` });
  expect(hook.status).toBe(201);
  const undelivered = await finishedRun(waiting, 'webhook pending');

  // A succeeded run whose workspace was kept (RUNWAY_KEEP_WORKSPACES): its row is the folder's only record.
  const kept = await finishedRun(account, 'workspace kept');
  await stack.db.updateTable('runs').set({ workspace_path: '/data/workspaces/kept' }).where('id', '=', kept).execute();
  await age('runs', 'completed_at', [old, closed.runId, open.runId, undelivered, kept]);
  await age('sessions', 'closed_at', [closed.sessionId]);
  const ledgerBefore = await ledgerOf(stack, account);
  const accountBefore = await accountOf(stack, account);

  const purged = await purgeNow(retentionScheduleId(stack.config.temporal.taskQueue));
  expect(purged).toMatchObject({ runs: 2, sessions: 1 });
  expect(purged.events).toBeGreaterThan(0);

  // Gone: the aged run, the closed session, its request, and all their events.
  for (const id of [old, closed.runId]) {
    expect(await rowCount('runs', id)).toBe(0);
    expect(await eventCount(id)).toBe(0);
    expect((await stack.http.get(`/v1/runs/${id}`).set(bearer(account))).status).toBe(404);
  }
  expect(await rowCount('sessions', closed.sessionId)).toBe(0);
  expect(await eventCount(closed.sessionId)).toBe(0);
  // Kept: the recent run, the open session's aged request, the run whose webhook is owed, the kept workspace's.
  for (const id of [recent, open.runId, undelivered, kept]) expect(await rowCount('runs', id)).toBe(1);
  expect(await rowCount('sessions', open.sessionId)).toBe(1);
  expect(await eventCount(recent)).toBeGreaterThan(0);

  // The ledger is append-only and kept whole; balances are untouched.
  expect(await ledgerOf(stack, account)).toEqual(ledgerBefore);
  expect((await ledgerOf(stack, account)).filter((e) => e.runId === old).map((e) => e.kind).sort()).toEqual(['charge', 'refund', 'reserve']);
  expect(await accountOf(stack, account)).toEqual(accountBefore);

  // The purged run's Idempotency-Key cannot admit a second run under the id the ledger knows.
  const replay = await startRun(stack, account, { prompt: 'old and finished', model: 'demo/echo', maxTokens: 16 }, { 'idempotency-key': 'retention-key-1' });
  expect(replay.status).toBe(409);
  expect(replay.body.type).toMatch(/idempotency-key-expired$/);
  expect(await accountOf(stack, account)).toEqual(accountBefore);

  // A second pass finds nothing more.
  expect(await purgeNow(retentionScheduleId(stack.config.temporal.taskQueue))).toEqual({ runs: 0, sessions: 0, events: 0, deliveries: 0 });
});

test('registering the schedule is idempotent, follows the settings and is removed when retention is off', async () => {
  const taskQueue = stack.config.temporal.taskQueue;
  await waitForSchedule(retentionScheduleId(taskQueue));
  expect(await ensureRetentionSchedule(stack.temporal, taskQueue, { days: 7, batchSize: 10 })).toBe('updated');
  expect(await ensureRetentionSchedule(stack.temporal, taskQueue, { days: 7, batchSize: 10 })).toBe('updated');
  const { description } = await waitForSchedule(retentionScheduleId(taskQueue));
  expect(description.spec.intervals).toMatchObject([{ every: 3_600_000 }]);
  expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow', taskQueue });

  expect(await ensureRetentionSchedule(stack.temporal, taskQueue, { days: 0, batchSize: 10 })).toBe('deleted');
  expect(await ensureRetentionSchedule(stack.temporal, taskQueue, { days: 0, batchSize: 10 })).toBe('off');
  await expect(stack.temporal.schedule.getHandle(retentionScheduleId(taskQueue)).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
});
