import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { claimDueRunStarts, deleteRunStarts } from '../src/db/run-starts';
import { newId } from '../src/ids';
import { launcherFor } from '../src/runs/run-launcher';
import { freePort, startDevServer, type DevServer } from '../src/temporal/dev-server';
import { waitForNamespace } from '../src/temporal/connection';
import { RUN_WORKFLOW_TYPE } from '../workflows/definitions';
import { accountOf, bearer, createAccount, expectLedgerConsistent, getRun, startRun, waitForRun, type TestAccount } from './helpers/api';
import { admissionRequest, admitWithoutStart } from './helpers/run-input';
import { spawnApi, stackEnv } from './helpers/processes';
import { databaseDump } from './helpers/database-dump';
import { startStack, type TestStack } from './helpers/stack';


/** The stored events of a run, in order. */
async function eventsOf(stack: TestStack, runId: string) {
  return stack.db.selectFrom('run_events').select(['id', 'type', 'data']).where('run_id', '=', runId).orderBy('id').execute();
}

/** Every run's events are numbered 1..N without a gap or a duplicate. */
async function expectGapless(stack: TestStack, runIds: string[]): Promise<void> {
  for (const id of runIds) {
    const ids = (await eventsOf(stack, id)).map((e) => Number(e.id));
    expect({ id, ids }).toEqual({ id, ids: ids.map((_, i) => i + 1) });
  }
}

async function outboxOf(stack: TestStack, runIds: string[]) {
  if (runIds.length === 0) return [];
  return stack.db.selectFrom('run_starts').selectAll().where('run_id', 'in', runIds).execute();
}

async function expectNoWorkflow(stack: TestStack, runId: string): Promise<void> {
  await expect(stack.temporal.workflow.getHandle(runId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
}

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('while the Temporal server is down', () => {
  let server: DevServer;
  let stack: TestStack;
  let port: number;
  let dataDir: string;

  const startServer = async () => {
    server = await startDevServer({ port, uiPort: null, namespace: 'runway', dataDir });
    await waitForNamespace(server.address, 'runway');
  };

  beforeAll(async () => {
    port = await freePort();
    dataDir = path.join(process.env.RUNWAY_TEST_WORKDIR as string, `outbox-temporal-${port}`);
    await startServer();
    stack = await startStack({
      env: { TEMPORAL_ADDRESS: server.address, RUNWAY_START_GRACE_MS: '300', RUNWAY_OUTBOX_POLL_MS: '200' },
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await server?.stop();
  }, 60_000);

  test('runs are admitted (202), readable, stoppable and replayable; they run once it is back, in order, money exact', async () => {
    const account = await createAccount(stack, 100_000);
    const session = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'demo/echo', maxTokens: 5 });
    expect(session.status).toBe(201);
    await server.stop();

    const post = (body: Record<string, unknown>, headers: Record<string, string> = {}) => startRun(stack, account, body, headers);
    const plain = await post({ prompt: 'admitted while temporal is down', maxTokens: 10 });
    expect(plain.status).toBe(202);
    expect(plain.body).toMatchObject({ status: 'queued' });
    expect(await getRun(stack, account, plain.body.id)).toMatchObject({ status: 'queued' });

    // Sealed secrets wait in the outbox as ciphertext only.
    const secret = `sk-outbox-${randomBytes(12).toString('hex')}`;
    const withSecret = await post({ prompt: 'with a secret', maxTokens: 5, secrets: { apiKey: secret } });
    expect(withSecret.status).toBe(202);
    const [entry] = await outboxOf(stack, [withSecret.body.id]);
    const ciphertext = (entry?.sealed_secrets as { data: string } | null)?.data;
    expect(ciphertext).toEqual(expect.any(String));
    expect(JSON.stringify(entry)).not.toContain(secret);

    // Idempotency-Key replays and conflicts are decided in the admission transaction.
    const key = { 'idempotency-key': `outbox-${randomBytes(12).toString('hex')}` };
    const keyed = await post({ prompt: 'keyed', maxTokens: 5 }, key);
    const replay = await post({ prompt: 'keyed', maxTokens: 5 }, key);
    const conflict = await post({ prompt: 'another body', maxTokens: 5 }, key);
    expect([keyed.status, replay.status, conflict.status]).toEqual([202, 202, 409]);
    expect(replay.body.id).toBe(keyed.body.id);

    // A stop before the workflow exists ends the run at once, fully refunded.
    const balanceBefore = (await accountOf(stack, account)).balance;
    const doomed = await post({ prompt: 'stopped before it started', maxTokens: 50 });
    const stop = await stack.http.post(`/v1/runs/${doomed.body.id}/stop`).set(bearer(account));
    expect(stop.status).toBe(202);
    expect(stop.body).toMatchObject({ status: 'stopped' });
    const stopped = await getRun(stack, account, doomed.body.id);
    expect(stopped).toMatchObject({ status: 'stopped', error: { code: 'stopped' }, cost: { charged: 0, refunded: stopped.cost.estimate } });
    expect((await accountOf(stack, account)).balance).toBe(balanceBefore);
    expect((await eventsOf(stack, doomed.body.id)).map((e) => e.type)).toEqual(['status', 'usage', 'error', 'status', 'end']);

    // Follow-ups are answered at once too.
    const followUps: string[] = [];
    for (const prompt of ['first follow-up', 'second follow-up', 'third follow-up']) {
      const res = await stack.http.post(`/v1/sessions/${session.body.id}/requests`).set(bearer(account)).send({ prompt });
      expect(res.status).toBe(202);
      followUps.push(res.body.runId);
    }

    // A new session needs its workflow: refused as unavailable, never a 500.
    const refused = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'demo/echo' });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ type: 'https://runway.dev/problems/temporal-unavailable' });

    // Ready for traffic (runs are accepted), and the backlog shows.
    const ready = await stack.http.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.postgres).toBe('ok');
    expect(ready.body.checks.temporal).not.toBe('ok');
    expect(ready.body.outbox.count).toBeGreaterThanOrEqual(6);

    await startServer();
    const waiting = [plain.body.id, withSecret.body.id, keyed.body.id, ...followUps];
    for (const id of waiting) {
      expect(await waitForRun(stack, account, id, undefined, 60_000)).toMatchObject({ status: 'succeeded' });
    }
    // The follow-ups ran one after the other, in the order they were sent.
    const started = await Promise.all(followUps.map(async (id) => (await getRun(stack, account, id)) as unknown as { startedAt: string; completedAt: string }));
    for (let i = 1; i < started.length; i++) {
      expect(Date.parse(started[i]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(started[i - 1]!.completedAt));
    }
    await expectNoWorkflow(stack, doomed.body.id);
    expect(await outboxOf(stack, [...waiting, doomed.body.id])).toEqual([]);
    const dump = await databaseDump(stack.config.databaseUrl, ['--data-only']);
    expect(dump).not.toContain(ciphertext);
    await expectGapless(stack, [...waiting, doomed.body.id]);
    await expectLedgerConsistent(stack, account);
    expect((await accountOf(stack, account)).reserved).toBe(0);
  }, 180_000);
});

describe('the outbox relay', () => {
  let stack: TestStack;
  let account: TestAccount;

  beforeAll(async () => {
    stack = await startStack({ env: { RUNWAY_OUTBOX_POLL_MS: '200' } });
  }, 60_000);
  afterAll(() => stack?.stop());
  beforeEach(async () => {
    account = await createAccount(stack, 100_000);
  });

  const demo = (over: Parameters<typeof admissionRequest>[2] = {}) => admissionRequest(newId('run'), account.id, { prompt: 'relayed run', maxActiveRuns: 1000, ...over });

  test('a run whose API died right after the commit is started by a relay and runs once', async () => {
    const { input } = await admitWithoutStart(stack, demo());
    const run = await waitForRun(stack, account, input.runId);
    expect(run).toMatchObject({ status: 'succeeded', output: 'relayed run' });
    expect(await outboxOf(stack, [input.runId])).toEqual([]);
    await expectLedgerConsistent(stack, account);
  });

  test('an API process started while Temporal is unreachable admits runs, which run once a relay can start them', async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    const api = await spawnApi({ ...stackEnv(stack), TEMPORAL_ADDRESS: nowhere, RUNWAY_START_GRACE_MS: '300' });
    try {
      const ready = await fetch(`${api.baseUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { checks: { temporal: string } }).checks.temporal).not.toBe('ok');
      const res = await fetch(`${api.baseUrl}/v1/runs`, {
        method: 'POST',
        headers: { ...bearer(account), 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'admitted by an api without temporal', maxTokens: 10 }),
      });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      // This stack's relays (API and worker) reach Temporal: one of them starts the run.
      expect(await waitForRun(stack, account, id)).toMatchObject({ status: 'succeeded', output: 'admitted by an api without temporal' });
    } finally {
      await api.kill();
    }
  }, 60_000);

  test('a run started twice (a relay whose lease ran out) has one execution and is billed once', async () => {
    const start = await admitWithoutStart(stack, demo());
    const { input } = start;
    await waitForRun(stack, account, input.runId);
    const events = await eventsOf(stack, input.runId);
    const again = launcherFor({ config: stack.config, db: stack.db, temporal: stack.temporal, logger: stack.apiDeps.logger });
    expect(await again.launchNow(start)).toBe(true);
    await again.close();
    const executions: string[] = [];
    for await (const wf of stack.temporal.workflow.list({ query: `WorkflowId = '${input.runId}'` })) executions.push(wf.runId);
    expect(executions).toHaveLength(1);
    expect(await eventsOf(stack, input.runId)).toEqual(events);
    await expectLedgerConsistent(stack, account);
  });

  test('a run stopped before any process started it ends stopped and refunded, and is never started', async () => {
    // Admitted, its admitting API gone: the entry is left to relays in a minute.
    const request = demo();
    const { input } = await admitWithoutStart(stack, request, 60_000);
    const stop = await stack.http.post(`/v1/runs/${input.runId}/stop`).set(bearer(account));
    expect(stop.body).toMatchObject({ status: 'stopped' });
    expect(await getRun(stack, account, input.runId)).toMatchObject({ status: 'stopped', cost: { charged: 0, refunded: request.estimate } });
    expect(await outboxOf(stack, [input.runId])).toEqual([]);
    await expectNoWorkflow(stack, input.runId);
    await expectLedgerConsistent(stack, account);
  });

  test('a run whose workflow raced its stop executes nothing', async () => {
    const { input } = await admitWithoutStart(stack, demo({ workspace: null }), 60_000);
    await stack.http.post(`/v1/runs/${input.runId}/stop`).set(bearer(account));
    // A start already in flight when the stop removed the entry.
    await stack.temporal.workflow.start(RUN_WORKFLOW_TYPE, { workflowId: input.runId, taskQueue: stack.config.temporal.taskQueue, args: [input] });
    await stack.temporal.workflow.getHandle(input.runId).result();
    const run = await getRun(stack, account, input.runId);
    expect(run).toMatchObject({ status: 'stopped', output: '', cost: { charged: 0 } });
    expect((await eventsOf(stack, input.runId)).map((e) => e.type)).toEqual(['status', 'usage', 'error', 'status', 'end']);
    await expectLedgerConsistent(stack, account);
  });

  test('concurrent relays never take the same entry', async () => {
    const inputs = await Promise.all(Array.from({ length: 30 }, () => admitWithoutStart(stack, demo(), 60_000)));
    const ids = inputs.map((i) => i.input.runId);
    // Due now, for these relays only (the stack's own look every 200 ms and may take some too).
    await stack.db.updateTable('run_starts').set({ available_at: new Date(0) }).where('run_id', 'in', ids).execute();
    const claims = await Promise.all([1, 2, 3, 4].map(() => claimDueRunStarts(stack.db, 10, 60_000)));
    const taken = claims.flat().map((c) => c.run.id).filter((id) => ids.includes(id));
    expect(taken.length).toBeGreaterThan(0);
    expect(new Set(taken).size).toBe(taken.length);
    // Leased: nobody takes them again until the lease ends.
    expect((await claimDueRunStarts(stack.db, 100, 60_000)).map((c) => c.run.id).filter((id) => taken.includes(id))).toEqual([]);
    // Let them run (released to the relays now), so that the account ends settled.
    await stack.db.updateTable('run_starts').set({ available_at: new Date(0) }).where('run_id', 'in', ids).execute();
    for (const id of ids) await waitForRun(stack, account, id, undefined, 60_000);
    await eventually(() => outboxOf(stack, ids), (rows) => rows.length === 0);
    await expectLedgerConsistent(stack, account);
  }, 120_000);

  test('a run that cannot be started before its deadline ends failed and refunded', async () => {
    const request = demo();
    const { input } = await admitWithoutStart(stack, request, 60_000);
    // As if admitted two hours ago (the default deadline is one hour).
    await stack.db.updateTable('runs').set({ created_at: new Date(Date.now() - 2 * 3600_000) }).where('id', '=', input.runId).execute();
    await stack.db.updateTable('run_starts').set({ available_at: new Date(0) }).where('run_id', '=', input.runId).execute();
    const run = await waitForRun(stack, account, input.runId);
    expect(run).toMatchObject({ status: 'failed', error: { code: 'not_started' }, cost: { charged: 0, refunded: request.estimate } });
    await expectNoWorkflow(stack, input.runId);
    await deleteRunStarts(stack.db, [input.runId]);
    await expectLedgerConsistent(stack, account);
  });
});
