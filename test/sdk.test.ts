import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Runway, RunwayError, isTerminal, runStatuses, textOf, verifyWebhook, type RunwayEvent } from '../packages/client/src/index';
import { buildOpenApiDocument } from '../src/api/openapi';
import { beginModelStep, beginToolStep, finishModelStep } from '../src/db/run-steps';
import { createAccount, expectLedgerConsistent, ledgerOf, type TestAccount } from './helpers/api';
import { spawnPlatformProcess, stackEnv, type PlatformProcess } from './helpers/processes';
import { startStack, type TestStack } from './helpers/stack';
import { WebhookReceiver } from './helpers/webhook-receiver';
import { freePort } from '../src/temporal/dev-server';
import { RUN_STATUSES, TERMINAL_STATUSES } from '../workflows/run-vocabulary';

/** The client SDK (packages/client) against the real stack (issue #17). */
let stack: TestStack;
const receiver = new WebhookReceiver();
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

beforeAll(async () => {
  await receiver.start();
  stack = await startStack({ env: { RUNWAY_DEMO_DELAY_MS: '20', RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true', RUNWAY_WEBHOOK_POLL_MS: '500' } });
});
afterAll(async () => {
  await stack?.stop();
  await receiver.stop();
});

const clientFor = (account: TestAccount, baseUrl = stack.baseUrl) => new Runway({ baseUrl, apiKey: account.apiKey });

/** The RunwayError a call fails with (the test fails if it succeeds). */
async function failure(call: Promise<unknown>): Promise<RunwayError> {
  const err = await call.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof RunwayError)) throw new Error(`expected a RunwayError, got ${String(err)}`);
  return err;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

test('the SDK\'s run statuses are the OpenAPI enum, and its terminal ones the server\'s', () => {
  expect(runStatuses).toEqual(RUN_STATUSES);
  expect(runStatuses.filter(isTerminal)).toEqual(TERMINAL_STATUSES);
});

test('the SDK was built from the API\'s current OpenAPI document', () => {
  const built = JSON.parse(readFileSync(path.join(__dirname, '..', 'packages', 'client', 'openapi.json'), 'utf8'));
  // Fails when the server's document changed and the SDK's types were not rebuilt (npm run build:client).
  expect(built).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument())));
});

test('runs: create, get, list (every page), stop, delete and retry', async () => {
  const account = await createAccount(stack, 100_000);
  const rw = clientFor(account);
  const created = [];
  for (let i = 0; i < 5; i++) created.push(await rw.runs.create({ prompt: `run ${i}`, maxTokens: 5, user: 'sdk-user' }));
  expect(created[0]).toMatchObject({ status: 'queued', publicAccessToken: expect.any(String) });
  const done = await rw.runs.wait(created[0]!.id);
  expect(done).toMatchObject({ status: 'succeeded', output: 'run 0', user: 'sdk-user' });

  const listed = await collect(rw.runs.list({ user: 'sdk-user', limit: 2 }));
  expect(listed.map((r) => r.id)).toEqual(created.map((r) => r.id).reverse());

  const long = await rw.runs.create({ prompt: words(300), maxTokens: 400 });
  expect((await rw.runs.stop(long.id)).status).toMatch(/^stop/);
  expect((await rw.runs.wait(long.id)).status).toBe('stopped');
  const retried = await rw.runs.retry(long.id);
  expect((await rw.runs.get(retried.id)).retryOf).toBe(long.id);
  await rw.runs.stop(retried.id);
  await rw.runs.wait(retried.id);
  await rw.runs.delete(long.id);
  const gone = await failure(rw.runs.get(long.id));
  expect(gone).toMatchObject({ status: 404, code: 'not-found' });
  await expectLedgerConsistent(stack, account);
});

test('errors are RunwayError with the problem\'s fields', async () => {
  const rw = clientFor(await createAccount(stack, 3));
  const poor = await failure(rw.runs.create({ prompt: 'too expensive', maxTokens: 100 }));
  expect(poor).toMatchObject({ status: 402, code: 'insufficient-credits', title: 'Insufficient credits' });
  expect(poor.problem).toMatchObject({ estimate: expect.any(Number), balance: 3 });
  const invalid = await failure(rw.runs.create({ prompt: '' }));
  expect(invalid).toMatchObject({ status: 400, code: 'validation-error' });
  expect(invalid.errors[0]).toMatchObject({ path: 'prompt' });
  const wrongKey = new Runway({ baseUrl: stack.baseUrl, apiKey: 'rwk_wrong' });
  await expect(wrongKey.runs.get('run_x')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
});

test('a refusal\'s Retry-After is on the error, in seconds (none from the API itself)', async () => {
  const problem = JSON.stringify({ type: 'https://runway.dev/problems/too-many-active-runs', title: 'Too many active runs', status: 429, detail: 'cap', scope: 'user' });
  const refusing = (retryAfter: string) =>
    new Runway({ baseUrl: 'http://runway.invalid', apiKey: 'rwk_x', maxRetries: 0, fetch: async () => new Response(problem, { status: 429, headers: { 'retry-after': retryAfter } }) });
  expect(await failure(refusing('7').runs.get('run_x'))).toMatchObject({ status: 429, retryAfter: 7, problem: { scope: 'user' } });
  expect((await failure(refusing('soon').runs.get('run_x'))).retryAfter).toBeNull();
  const poor = await failure(clientFor(await createAccount(stack, 3)).runs.create({ prompt: 'too expensive', maxTokens: 100 }));
  expect(poor.retryAfter).toBeNull();
});

test('a create whose first attempt times out after the server admitted it is still one run', async () => {
  const account = await createAccount(stack, 10_000);
  let creates = 0;
  // The first POST reaches the server and is admitted, but its answer never reaches the client.
  const lossy: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (init?.method === 'POST' && String(input).endsWith('/v1/runs') && creates++ === 0) {
      await new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    }
    return res;
  };
  const rw = new Runway({ baseUrl: stack.baseUrl, apiKey: account.apiKey, fetch: lossy, timeoutMs: 500 });
  const run = await rw.runs.create({ prompt: 'only once', maxTokens: 5 });
  expect(creates).toBe(2);
  await rw.runs.wait(run.id);
  expect((await collect(rw.runs.list())).map((r) => r.id)).toEqual([run.id]);
  expect((await ledgerOf(stack, account)).filter((e) => e.kind === 'reserve')).toHaveLength(1);
});

test('runs.steps: a plain run has none; a transcript as the agent loop writes it, one page or every step', async () => {
  const rw = clientFor(await createAccount(stack, 10_000));
  const run = await rw.runs.wait((await rw.runs.create({ prompt: 'no tools', maxTokens: 5 })).id);
  expect(await rw.runs.steps(run.id)).toEqual({ data: [], nextCursor: null });
  // No tool executor is needed: the steps are written as the agent loop writes them.
  for (let turn = 0; turn < 3; turn++) {
    const index = turn * 2;
    await beginModelStep(stack.db, run.id, index, 1);
    await finishModelStep(stack.db, run.id, index, { text: `turn ${turn}`, toolCalls: [], usage: { inputTokens: 3, outputTokens: 1 }, cost: 1, attempt: 1 });
    await beginToolStep(stack.db, run.id, index + 1, { callId: `c${turn}`, name: 'read_file', arguments: '{}', turn: index });
  }
  const first = await rw.runs.steps(run.id, { limit: 4 });
  expect(first.data.map((s) => `${s.index}:${s.kind}`)).toEqual(['0:model', '1:tool', '2:model', '3:tool']);
  expect(first.data[0]).toMatchObject({ kind: 'model', text: 'turn 0', usage: { inputTokens: 3, outputTokens: 1 }, cost: 1 });
  expect(first.data[1]).toMatchObject({ kind: 'tool', callId: 'c0', result: null, finishedAt: null });
  const rest = await rw.runs.steps(run.id, { limit: 4, cursor: first.nextCursor ?? undefined });
  expect(rest.data.map((s) => s.index)).toEqual([4, 5]);
  expect(rest.nextCursor).toBeNull();
  expect((await collect(rw.runs.steps(run.id, { limit: 2 }))).map((s) => s.index)).toEqual([0, 1, 2, 3, 4, 5]);
});

describe('a stream', () => {
  let api: PlatformProcess | undefined;
  afterEach(async () => api?.kill('SIGKILL'));

  async function startApi(port: number): Promise<PlatformProcess> {
    const proc = spawnPlatformProcess('api', { ...stackEnv(stack), PORT: String(port), RUNWAY_LOG_LEVEL: 'warn' });
    for (const deadline = Date.now() + 60_000; ; ) {
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) return proc;
      if (Date.now() > deadline || proc.child.exitCode !== null) throw new Error(`api did not start:\n${proc.output()}`);
      await sleep(100);
    }
  }

  test('survives the API process being killed and restarted mid-run: gapless, no duplicates, the whole output', async () => {
    const port = await freePort();
    api = await startApi(port);
    const account = await createAccount(stack, 100_000);
    const rw = clientFor(account, `http://127.0.0.1:${port}`);
    const run = await rw.runs.create({ prompt: words(150), maxTokens: 200 });
    const events: RunwayEvent[] = [];
    let restarted = false;
    for await (const event of rw.runs.stream(run.id)) {
      events.push(event);
      if (!restarted && events.filter((e) => e.type === 'delta').length === 10) {
        restarted = true;
        await api.kill('SIGKILL');
        await sleep(500);
        api = await startApi(port);
      }
    }
    expect(restarted).toBe(true);
    const ids = events.flatMap((e) => (e.id === null ? [] : [e.id]));
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => ids[0]! + i));
    expect(events.at(-1)?.type).toBe('end');
    const finished = await rw.runs.get(run.id);
    expect(finished.status).toBe('succeeded');
    expect(textOf(events)).toBe(finished.output);
    expect(finished.output).toBe(words(150));
  });

  test('can be aborted', async () => {
    const rw = clientFor(await createAccount(stack, 100_000));
    const run = await rw.runs.create({ prompt: words(200), maxTokens: 300 });
    const controller = new AbortController();
    const seen: RunwayEvent[] = [];
    const reading = (async () => {
      for await (const e of rw.runs.stream(run.id, { signal: controller.signal })) {
        seen.push(e);
        if (seen.length === 3) controller.abort();
      }
    })();
    await expect(reading).rejects.toBeDefined();
    expect(seen).toHaveLength(3);
    await rw.runs.stop(run.id);
  });
});

test('sessions: create, request, follow, list and close', async () => {
  const rw = clientFor(await createAccount(stack, 100_000));
  const session = await rw.sessions.create({ user: 'sdk-session-user' });
  const first = await rw.sessions.request(session.id, { prompt: 'first question' });
  const events = await collect(rw.sessions.streamRequest(session.id, first.requestId));
  expect(textOf(events)).toBe('first question');
  expect((await rw.sessions.getRequest(session.id, first.requestId)).status).toBe('succeeded');
  expect((await collect(rw.sessions.list({ user: 'sdk-session-user' }))).map((s) => s.id)).toEqual([session.id]);
  expect((await rw.sessions.close(session.id)).status).toMatch(/^clos/);
  const log = await collect(rw.sessions.stream(session.id));
  expect(log.map((e) => e.type)).toEqual(expect.arrayContaining(['request.completed', 'session.closed', 'end']));
});

test('tokens: a scoped client reads what its token covers; revokeAll ends it', async () => {
  const account = await createAccount(stack, 10_000);
  const rw = clientFor(account);
  const run = await rw.runs.create({ prompt: 'for the browser', maxTokens: 5 });
  const other = await rw.runs.create({ prompt: 'not covered', maxTokens: 5 });
  const { token } = await rw.tokens.create({ scope: { runs: [run.id] } });
  const scoped = new Runway({ baseUrl: stack.baseUrl, token });
  expect((await scoped.runs.wait(run.id)).output).toBe('for the browser');
  await expect(scoped.runs.get(other.id)).rejects.toMatchObject({ status: 404 });
  await rw.tokens.revokeAll();
  await expect(scoped.runs.get(run.id)).rejects.toMatchObject({ status: 401 });
});

test('account: balance, reserved and the ledger (every page); a scoped token is refused', async () => {
  const account = await createAccount(stack, 10_000);
  const rw = clientFor(account);
  const done = await rw.runs.wait((await rw.runs.create({ prompt: 'bill me', maxTokens: 5 })).id);
  const me = await rw.account.get();
  expect(me).toMatchObject({ id: account.id, balance: 10_000 - done.cost.charged, reserved: 0 });
  const entries = await collect(rw.account.ledger({ limit: 1 }));
  expect(entries).toEqual(await ledgerOf(stack, account));
  expect(entries.map((e) => e.kind).sort()).toEqual(['charge', 'credit', 'refund', 'reserve']);
  const { token } = await rw.tokens.create({ scope: { runs: [done.id] } });
  expect((await failure(new Runway({ baseUrl: stack.baseUrl, token }).account.get())).status).toBe(401);
});

test('webhooks: verifyWebhook accepts a real delivery and refuses a tampered one', async () => {
  const rw = clientFor(await createAccount(stack, 10_000));
  const hook = await rw.webhooks.create({ url: `${receiver.url}/sdk-hook` });
  expect((await collect(rw.webhooks.list())).map((w) => w.id)).toEqual([hook.id]);
  const run = await rw.runs.create({ prompt: 'notify me', maxTokens: 5, user: 'hooked' });
  const [got] = await receiver.waitFor('/sdk-hook', 1);
  if (!got) throw new Error('no delivery');
  const event = verifyWebhook(got.body, got.headers, hook.secret);
  expect(event).toMatchObject({ type: 'run.succeeded', data: { id: run.id, user: 'hooked' } });
  expect(() => verifyWebhook(got.body.replace('hooked', 'hacked'), got.headers, hook.secret)).toThrow();
  expect(() => verifyWebhook(got.body, got.headers, `whsec_${Buffer.alloc(32, 1).toString('base64')}`)).toThrow();
  await rw.webhooks.delete(hook.id);
});
