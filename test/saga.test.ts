import { setTimeout as sleep } from 'node:timers/promises';
import { accountOf, bearer, createAccount, expectLedgerConsistent, getRun, ledgerOf, startRun, waitForRun } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { startStack, type TestStack } from './helpers/stack';
import { temporal } from '@temporalio/proto';
import { statusQuery } from '../workflows/definitions';

// Prices chosen so costs are easy to check: 1 credit per input token, 2 per output token.
const PRICES = JSON.stringify({ 'openai/test-model': { input: 1000, output: 2000 } });

let stack: TestStack;
const fake = new FakeOpenAi();
beforeAll(async () => {
  await fake.start();
  stack = await startStack({ env: { RUNWAY_OPENAI_BASE_URL: fake.baseUrl, RUNWAY_PRICES: PRICES, RUNWAY_DEMO_DELAY_MS: '20' } });
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
});

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);

describe('money flow', () => {
  test('success: reserve, then charge for usage and refund the rest', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'stream', tokens: words(5), usage: { prompt_tokens: 7, completion_tokens: 5 } });
    const res = await startRun(stack, account, { prompt: 'say five words', model: 'openai/test-model', maxTokens: 50 });
    expect(res.status).toBe(202);
    const estimate = res.body.estimate as number;
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.usage).toEqual({ inputTokens: 7, outputTokens: 5 });
    expect(run.cost).toEqual({ estimate, charged: 7 + 2 * 5, refunded: estimate - 17 });
    const ledger = (await ledgerOf(stack, account)).filter((e) => e.runId === run.id);
    expect(ledger.map((e) => [e.kind, e.amount])).toEqual([
      ['refund', estimate - 17],
      ['charge', 17],
      ['reserve', estimate],
    ]);
    expect((await accountOf(stack, account)).balance).toBe(1000 - 17);
    await expectLedgerConsistent(stack, account);
  });

  test('insufficient credits: 402, balance unchanged, no run and no running workflow left', async () => {
    const account = await createAccount(stack, 10);
    const res = await startRun(stack, account, { prompt: 'too expensive', model: 'demo/echo', maxTokens: 100 });
    expect(res.status).toBe(402);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    // demo/echo tokens are at most 8 characters: 'too ', 'expensiv', 'e', plus 100 of output.
    expect(res.body).toMatchObject({ type: 'https://runway.dev/problems/insufficient-credits', balance: 10, estimate: 103 });
    expect(await accountOf(stack, account)).toMatchObject({ balance: 10, reserved: 0 });
    expect((await stack.http.get('/v1/runs').set(bearer(account))).body.data).toEqual([]);
    expect((await ledgerOf(stack, account)).map((e) => e.kind)).toEqual(['credit']);
    // Admission is decided before any workflow exists: a refused run never gets one. A later
    // admitted run of the same account is listed once visibility caught up; only it is there.
    const later = await stack.http.post('/v1/runs').set(bearer(account)).send({ prompt: 'cheap', model: 'demo/echo', maxTokens: 1 });
    expect(later.status).toBe(202);
    await waitForRun(stack, account, later.body.id);
    let ids: string[] = [];
    const deadline = Date.now() + 20_000;
    while (ids.length === 0 && Date.now() < deadline) {
      ids = [];
      for await (const wf of stack.temporal.workflow.list({ query: `RunwayAccount = '${account.id}'` })) ids.push(wf.workflowId);
      if (ids.length === 0) await sleep(100);
    }
    expect(ids).toEqual([later.body.id]);
  });

  test('non-retryable model failure: failed with the provider error, full refund', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'status', status: 400, body: '{"error":{"message":"bad model"}}' });
    const res = await startRun(stack, account, { prompt: 'fail please', model: 'openai/test-model', maxTokens: 20 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('provider_http_400');
    expect(run.cost).toEqual({ estimate: res.body.estimate, charged: 0, refunded: res.body.estimate });
    expect((await accountOf(stack, account)).balance).toBe(1000);
    await expectLedgerConsistent(stack, account);
  });

  test('retryable failure then success: succeeded and charged once', async () => {
    const account = await createAccount(stack, 1000);
    const before = fake.requests.length;
    fake.enqueue({ kind: 'status', status: 503 }, { kind: 'stream', tokens: words(3), usage: { prompt_tokens: 4, completion_tokens: 3 } });
    const res = await startRun(stack, account, { prompt: 'flaky', model: 'openai/test-model', maxTokens: 20 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(fake.requests.length - before).toBe(2);
    expect(run.attempt).toBe(2);
    expect(run.output).toBe('w0 w1 w2 ');
    expect(run.cost.charged).toBe(4 + 2 * 3);
    await expectLedgerConsistent(stack, account);
  });

  test('a provider streaming past maxTokens is cut at the cap and never charged over the estimate', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'stream', tokens: words(40), ignoreMaxTokens: true, usage: null });
    const res = await startRun(stack, account, { prompt: 'ramble', model: 'openai/test-model', maxTokens: 10 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.truncated).toBe(true);
    expect(run.usage.outputTokens).toBe(10);
    expect(run.output).toBe(words(10).join(''));
    expect(run.cost.charged).toBeLessThanOrEqual(run.cost.estimate);
    await expectLedgerConsistent(stack, account);
  });

  test('demo/echo with a prompt longer than maxTokens ends truncated at the cap', async () => {
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt: 'one two three four five six', model: 'demo/echo', maxTokens: 3 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run).toMatchObject({ status: 'succeeded', truncated: true, output: 'one two three ' });
    expect(run.cost).toEqual({ estimate: 9, charged: 9, refunded: 0 });
  });
});

describe('stop', () => {
  // How fast a stop lands is measured by `npm run bench:stop` (target p99 ≤ 1 s), not here:
  // stopped before the 10 s stream could end is what this test needs.
  test('stop mid-stream: stopped before the stream ends, charged for what was used, refunded the rest', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'stream', tokens: words(200), delayMs: 50 });
    const aborted = fake.aborted;
    const res = await startRun(stack, account, { prompt: 'long answer', model: 'openai/test-model', maxTokens: 300 });
    await waitForRun(stack, account, res.body.id, (r) => r.usage.outputTokens >= 5);
    const stop = await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    expect(stop.status).toBe(202);
    expect(stop.body).toEqual({ id: res.body.id, status: 'stopping' });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('stopped');
    expect(run.error?.code).toBe('stopped');
    expect(run.usage.outputTokens).toBeGreaterThanOrEqual(5);
    expect(run.usage.outputTokens).toBeLessThan(200);
    expect(run.output.split(' ').length - 1).toBe(run.usage.outputTokens);
    const estimatedInput = (await stack.db.selectFrom('runs').select('input_tokens').where('id', '=', run.id).executeTakeFirstOrThrow()).input_tokens;
    expect(run.cost.charged).toBe(estimatedInput + 2 * run.usage.outputTokens);
    expect(fake.aborted).toBe(aborted + 1); // the provider's request was really aborted
    await expectLedgerConsistent(stack, account);

    const again = await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    expect(again.status).toBe(409);
    expect(again.body.type).toBe('https://runway.dev/problems/run-terminal');
  });

  test('the worker hears a stop at once: the model call ends before the workflow cancels it', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'stream', tokens: words(200), delayMs: 50 });
    const res = await startRun(stack, account, { prompt: 'long answer', model: 'openai/test-model', maxTokens: 300 });
    await waitForRun(stack, account, res.body.id, (r) => r.usage.outputTokens >= 3);
    await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('stopped');
    expect(run.error?.code).toBe('stopped');
    // The execute activity completed on its own (it heard the stop's NOTIFY) instead of being
    // cancelled through a workflow task and a heartbeat.
    // The run reads stopped once settled, which the activity does itself: the workflow ends after.
    const handle = stack.temporal.workflow.getHandle(res.body.id);
    expect(await handle.result()).toMatchObject({ status: 'stopped', error: { code: 'stopped' } });
    const history = await handle.fetchHistory();
    const types = (history.events ?? []).map((e) => temporal.api.enums.v1.EventType[e.eventType ?? 0]);
    expect(types).toContain('EVENT_TYPE_ACTIVITY_TASK_COMPLETED');
    expect(types).not.toContain('EVENT_TYPE_ACTIVITY_TASK_CANCELED');
    expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);
    await expectLedgerConsistent(stack, account);
  });

  test('stop while queued behind nothing but its reservation still refunds everything', async () => {
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt: 'a b c d e f g h i j k l m n o p', model: 'demo/echo', maxTokens: 16 });
    await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    const run = await waitForRun(stack, account, res.body.id);
    expect(['stopped', 'succeeded']).toContain(run.status);
    await expectLedgerConsistent(stack, account);
  });

  test('the status query reports status, step, progress and attempt', async () => {
    const account = await createAccount(stack, 1000);
    // The provider never answers: the run stays in its model step until it is stopped.
    fake.when('status while running', { kind: 'hang' });
    const res = await startRun(stack, account, { prompt: 'status while running', model: 'openai/test-model', maxTokens: 20 });
    await waitForRun(stack, account, res.body.id, (r) => r.status === 'running');
    const state = await stack.temporal.workflow.getHandle(res.body.id).query(statusQuery);
    expect(state).toMatchObject({ status: 'running', step: 'execute', attempt: 1 });
    await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    // A stopped run reads stopped once the activity has settled it; the workflow ends after.
    await stack.temporal.workflow.getHandle(res.body.id).result();
    const done = await stack.temporal.workflow.getHandle(res.body.id).query(statusQuery);
    expect(done).toMatchObject({ status: 'stopped', step: 'done' });
  });
});

describe('admission', () => {
  test('Idempotency-Key: same key and body give the same run; another body is a 409', async () => {
    const account = await createAccount(stack, 1000);
    const headers = { 'idempotency-key': 'order-42' };
    const body = { prompt: 'only once', model: 'demo/echo', maxTokens: 5 };
    const first = await startRun(stack, account, body, headers);
    const second = await startRun(stack, account, body, headers);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    const conflict = await startRun(stack, account, { ...body, prompt: 'something else' }, headers);
    expect(conflict.status).toBe(409);
    expect(conflict.body.type).toBe('https://runway.dev/problems/idempotency-key-reused');
    await waitForRun(stack, account, first.body.id);
    expect((await ledgerOf(stack, account)).filter((e) => e.kind === 'reserve')).toHaveLength(1);
    // The same key from another account is another run.
    const other = await createAccount(stack, 1000);
    const theirs = await startRun(stack, other, body, headers);
    expect(theirs.body.id).not.toBe(first.body.id);
  });

  test('concurrent replays of one Idempotency-Key create one run', async () => {
    const account = await createAccount(stack, 1000);
    const body = { prompt: 'race me', model: 'demo/echo', maxTokens: 5 };
    const results = await Promise.all(Array.from({ length: 8 }, () => startRun(stack, account, body, { 'idempotency-key': 'race' })));
    expect(new Set(results.map((r) => r.status))).toEqual(new Set([202]));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect((await ledgerOf(stack, account)).filter((e) => e.kind === 'reserve')).toHaveLength(1);
  });

  test('the per-account cap on active runs answers 429', async () => {
    const account = await createAccount(stack, 10_000, { maxActiveRuns: 2 });
    // The provider never answers these two: both are active until they are stopped.
    fake.when('hold a slot', { kind: 'hang' }, { kind: 'hang' });
    const slow = { prompt: 'hold a slot', model: 'openai/test-model', maxTokens: 100 };
    const a = await startRun(stack, account, slow);
    const b = await startRun(stack, account, slow);
    const c = await startRun(stack, account, slow);
    expect([a.status, b.status, c.status]).toEqual([202, 202, 429]);
    expect(c.body.type).toBe('https://runway.dev/problems/too-many-active-runs');
    for (const r of [a, b]) await stack.http.post(`/v1/runs/${r.body.id}/stop`).set(bearer(account));
    for (const r of [a, b]) await waitForRun(stack, account, r.body.id);
    expect((await startRun(stack, account, { prompt: 'now there is room', maxTokens: 5 })).status).toBe(202);
  });

  test('50 concurrent starts against a balance that covers 20: exactly 20 admitted, never negative', async () => {
    // Each run reserves 8 (input) + 2 (maxTokens) = 10 credits and, being cut at 2 tokens, is
    // charged all of it: a run that ends during the burst frees nothing for the others.
    const account = await createAccount(stack, 200, { maxActiveRuns: 100 });
    const body = { prompt: 'one two three four five six seven eight', model: 'demo/echo', maxTokens: 2 };
    const results = await Promise.all(Array.from({ length: 50 }, () => startRun(stack, account, body)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(20);
    expect(statuses.filter((s) => s === 402)).toHaveLength(30);
    const ledger = await ledgerOf(stack, account);
    expect(Math.min(...ledger.map((e) => e.balanceAfter))).toBeGreaterThanOrEqual(0);
    for (const r of results.filter((x) => x.status === 202)) await waitForRun(stack, account, r.body.id);
    await expectLedgerConsistent(stack, account);
  });

  test('an unknown model is a 400 before anything is reserved', async () => {
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt: 'x', model: 'nope/model' });
    expect(res.status).toBe(400);
    expect(res.body.type).toBe('https://runway.dev/problems/unknown-model');
    expect((await ledgerOf(stack, account)).map((e) => e.kind)).toEqual(['credit']);
  });
});

describe('delete and retry', () => {
  test('DELETE is 409 while active, 204 once ended, then the run is gone', async () => {
    const account = await createAccount(stack, 1000);
    // The provider never answers: the run is active until it is stopped.
    fake.when('delete me later', { kind: 'hang' });
    const res = await startRun(stack, account, { prompt: 'delete me later', model: 'openai/test-model', maxTokens: 40 });
    const early = await stack.http.delete(`/v1/runs/${res.body.id}`).set(bearer(account));
    expect(early.status).toBe(409);
    await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    expect((await waitForRun(stack, account, res.body.id)).status).toBe('stopped');
    expect((await stack.http.delete(`/v1/runs/${res.body.id}`).set(bearer(account))).status).toBe(204);
    expect((await stack.http.get(`/v1/runs/${res.body.id}`).set(bearer(account))).status).toBe(404);
    // The ledger keeps its rows: it is append-only.
    expect((await ledgerOf(stack, account)).filter((e) => e.runId === res.body.id)).toHaveLength(3);
  });

  test('retry starts a new run with the same input and retryOf set', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'status', status: 400 });
    const res = await startRun(stack, account, { prompt: 'again', model: 'openai/test-model', maxTokens: 5, metadata: { ticket: 7 } });
    await waitForRun(stack, account, res.body.id);
    fake.enqueue({ kind: 'stream', tokens: ['ok'] });
    const retry = await stack.http.post(`/v1/runs/${res.body.id}/retry`).set(bearer(account));
    expect(retry.status).toBe(202);
    const run = await waitForRun(stack, account, retry.body.id);
    expect(run).toMatchObject({ status: 'succeeded', retryOf: res.body.id, prompt: 'again', metadata: { ticket: 7 }, output: 'ok' });
    expect((await getRun(stack, account, res.body.id)).status).toBe('failed');
  });
});
