import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { outputOf, SseConnection } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';
import { RUN_EVENT_COLUMNS, runEventBody } from '../src/db/webhook-payload';

/** Scoped tokens: every scope and permission, expiry, revocation, and CORS for browsers (issue #16). */
const PROBLEM = 'https://runway.dev/problems/';
const ORIGIN = 'https://app.example.com';
let stack: TestStack;
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['fine'] });
const tag = () => Math.random().toString(36).slice(2, 8);
const asToken = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  await fake.start();
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_PRICES: JSON.stringify({ 'openai/chat': { input: 1000, output: 1000 } }),
      RUNWAY_CORS_ORIGINS: `${ORIGIN}, http://localhost:3000`,
      RUNWAY_MAX_STREAMS_PER_USER: '2',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
});

async function issue(account: TestAccount, body: Record<string, unknown>): Promise<string> {
  const res = await stack.http.post('/v1/tokens').set(bearer(account)).send(body);
  if (res.status !== 201) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token as string;
}

async function finishedRun(account: TestAccount, body: Record<string, unknown> = {}) {
  const res = await startRun(stack, account, { prompt: `run ${tag()}`, maxTokens: 5, ...body });
  expect(res.status).toBe(202);
  return waitForRun(stack, account, res.body.id);
}

/** A run whose provider never answers (active until stopped). */
async function heldRun(account: TestAccount, body: Record<string, unknown> = {}) {
  const prompt = `hold ${tag()}`;
  fake.when(prompt, { kind: 'hang' });
  const res = await startRun(stack, account, { prompt, model: 'openai/chat', maxTokens: 10, ...body });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

async function createSession(account: TestAccount, body: Record<string, unknown> = {}) {
  const res = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'openai/chat', maxTokens: 20, ...body });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function ask(auth: Record<string, string>, sessionId: string) {
  return stack.http.post(`/v1/sessions/${sessionId}/requests`).set(auth).send({ prompt: `ask ${tag()}` });
}

const get = (url: string, auth: Record<string, string>) => stack.http.get(url).set(auth);

describe('issuing', () => {
  test('POST /v1/tokens returns a token and its expiry: 15 minutes by default, at most 24 hours', async () => {
    const account = await createAccount(stack, 1000);
    const run = await finishedRun(account);
    const before = Date.now();
    const res = await stack.http.post('/v1/tokens').set(bearer(account)).send({ scope: { runs: [run.id] } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ token: expect.any(String), scope: { runs: [run.id] }, permissions: ['read'] });
    const expiresIn = Date.parse(res.body.expiresAt) - before;
    expect(expiresIn).toBeGreaterThan(899_000);
    expect(expiresIn).toBeLessThanOrEqual(901_000);
    const long = await stack.http.post('/v1/tokens').set(bearer(account)).send({ scope: { user: 'u' }, expiresIn: 86_400 });
    expect(long.status).toBe(201);
  });

  test.each([
    ['no scope', {}],
    ['two kinds of scope', { scope: { runs: ['run_a'], user: 'u' } }],
    ['an empty run list', { scope: { runs: [] } }],
    ['more than 100 runs', { scope: { runs: Array.from({ length: 101 }, (_, i) => `run_${i}`) } }],
    ['a session id where run ids go', { scope: { runs: ['ses_abc'] } }],
    ['an invalid end user', { scope: { user: 'a b' } }],
    ['an unknown permission', { scope: { user: 'u' }, permissions: ['admin'] }],
    ['create without a user scope', { scope: { runs: ['run_a'] }, permissions: ['read', 'create'] }],
    ['create for sessions', { scope: { sessions: ['ses_a'] }, permissions: ['create'] }],
    ['more than 24 hours', { scope: { user: 'u' }, expiresIn: 86_401 }],
    ['zero seconds', { scope: { user: 'u' }, expiresIn: 0 }],
    ['an unknown field', { scope: { user: 'u' }, admin: true }],
  ])('refuses %s with 400', async (_name, body) => {
    const account = await createAccount(stack, 10);
    const res = await stack.http.post('/v1/tokens').set(bearer(account)).send(body);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  });

  test('a token cannot reach the account, ledger, webhooks, tokens, deletes, retries or admin: 401', async () => {
    const account = await createAccount(stack, 1000);
    const run = await finishedRun(account);
    const token = asToken(await issue(account, { scope: { user: 'u' }, permissions: ['read', 'stop', 'create'] }));
    const calls = [
      stack.http.get('/v1/account').set(token),
      stack.http.get('/v1/account/ledger').set(token),
      stack.http.get('/v1/webhooks').set(token),
      stack.http.post('/v1/webhooks').set(token).send({ url: 'https://example.com/hook' }),
      stack.http.post('/v1/tokens').set(token).send({ scope: { user: 'u' } }),
      stack.http.post('/v1/tokens/revoke-all').set(token),
      stack.http.delete(`/v1/runs/${run.id}`).set(token),
      stack.http.post(`/v1/runs/${run.id}/retry`).set(token).send({}),
      stack.http.post('/v1/admin/accounts').set(token).send({ name: 'x' }),
    ];
    for (const res of await Promise.all(calls)) {
      expect(res.status).toBe(401);
      expect(res.body.type).toBe(`${PROBLEM}unauthorized`);
    }
    expect((await get(`/v1/runs/${run.id}`, bearer(account))).status).toBe(200); // nothing happened to it
  });
});

describe('a runs scope', () => {
  test('reads, lists and follows exactly its runs; any other run is 404, even one of another account it names', async () => {
    const account = await createAccount(stack, 1000);
    const other = await createAccount(stack, 1000);
    const [mine, notListed] = [await finishedRun(account), await finishedRun(account)];
    const theirs = await finishedRun(other);
    const token = await issue(account, { scope: { runs: [mine.id, theirs.id] } });

    expect((await get(`/v1/runs/${mine.id}`, asToken(token))).body).toMatchObject({ id: mine.id, output: mine.output });
    for (const id of [notListed.id, theirs.id, 'run_doesnotexist']) {
      const res = await get(`/v1/runs/${id}`, asToken(token));
      expect(res.status).toBe(404);
      expect(res.body.type).toBe(`${PROBLEM}not-found`);
    }
    const list = await get('/v1/runs', asToken(token));
    expect(list.body.data.map((r: { id: string }) => r.id)).toEqual([mine.id]);

    const viaQuery = await SseConnection.open(`${stack.baseUrl}/v1/runs/${mine.id}/events?access_token=${token}`, {});
    expect(viaQuery.status).toBe(200);
    await viaQuery.finished();
    expect(outputOf(viaQuery.messages)).toBe(mine.output);
    const viaHeader = await SseConnection.open(`${stack.baseUrl}/v1/runs/${mine.id}/events`, asToken(token));
    expect(viaHeader.status).toBe(200);
    viaHeader.close();
    for (const id of [notListed.id, theirs.id]) {
      expect((await SseConnection.open(`${stack.baseUrl}/v1/runs/${id}/events?access_token=${token}`, {})).status).toBe(404);
    }
    // A runs scope covers no session.
    const session = await createSession(account);
    expect((await get(`/v1/sessions/${session}`, asToken(token))).status).toBe(404);
    expect((await get('/v1/sessions', asToken(token))).body.data).toEqual([]);
  });

  test('?access_token= is taken on event streams only', async () => {
    const account = await createAccount(stack, 1000);
    const run = await finishedRun(account);
    const token = await issue(account, { scope: { runs: [run.id] } });
    expect((await stack.http.get(`/v1/runs/${run.id}?access_token=${token}`)).status).toBe(401);
    expect((await stack.http.get(`/v1/runs?access_token=${token}`)).status).toBe(401);
  });

  test('stopping needs "stop"; creating needs "create"', async () => {
    const account = await createAccount(stack, 10_000);
    const held = await heldRun(account);
    const readOnly = asToken(await issue(account, { scope: { runs: [held] } }));
    const refused = await stack.http.post(`/v1/runs/${held}/stop`).set(readOnly);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ type: `${PROBLEM}token-permission`, permission: 'stop' });
    const create = await stack.http.post('/v1/runs').set(readOnly).send({ prompt: 'p', maxTokens: 5 });
    expect(create.status).toBe(403);
    expect((await get(`/v1/runs/${held}`, bearer(account))).body.status).not.toMatch(/stop/);

    const stopper = asToken(await issue(account, { scope: { runs: [held] }, permissions: ['read', 'stop'] }));
    expect((await stack.http.post(`/v1/runs/${held}/stop`).set(stopper)).status).toBe(202);
    expect((await waitForRun(stack, account, held)).status).toBe('stopped');
  });

  test('the 202 of a new run carries a read token for that run alone, for 15 minutes', async () => {
    const account = await createAccount(stack, 1000);
    const first = await startRun(stack, account, { prompt: 'one', maxTokens: 5 });
    const second = await startRun(stack, account, { prompt: 'two', maxTokens: 5 });
    const token = first.body.publicAccessToken as string;
    expect(typeof token).toBe('string');
    await waitForRun(stack, account, first.body.id);
    expect((await get(`/v1/runs/${first.body.id}`, asToken(token))).status).toBe(200);
    expect((await get(`/v1/runs/${second.body.id}`, asToken(token))).status).toBe(404);
    expect((await stack.http.post(`/v1/runs/${first.body.id}/stop`).set(asToken(token))).status).toBe(403);
    const [, payload] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { exp: number; iat: number };
    expect(claims.exp - claims.iat).toBe(900);
  });
});

describe('a sessions scope', () => {
  test('covers the session, its requests and their runs; not other sessions', async () => {
    const account = await createAccount(stack, 10_000);
    const session = await createSession(account);
    const otherSession = await createSession(account);
    const asked = await ask(bearer(account), session);
    expect(asked.status).toBe(202);
    const otherAsked = await ask(bearer(account), otherSession);
    await waitForRun(stack, account, asked.body.runId);
    await waitForRun(stack, account, otherAsked.body.runId);
    const token = await issue(account, { scope: { sessions: [session] }, permissions: ['read', 'stop'] });
    const auth = asToken(token);

    expect((await get(`/v1/sessions/${session}`, auth)).status).toBe(200);
    expect((await get('/v1/sessions', auth)).body.data.map((s: { id: string }) => s.id)).toEqual([session]);
    expect((await get(`/v1/sessions/${session}/requests/${asked.body.requestId}`, auth)).status).toBe(200);
    expect((await get(`/v1/runs/${asked.body.runId}`, auth)).status).toBe(200);
    expect((await get('/v1/runs', auth)).body.data.map((r: { id: string }) => r.id)).toEqual([asked.body.runId]);
    const events = await SseConnection.open(`${stack.baseUrl}/v1/sessions/${session}/requests/${asked.body.requestId}/events?access_token=${token}`, {});
    expect(events.status).toBe(200);
    await events.finished();
    expect(outputOf(events.messages)).toBe('fine');

    expect((await get(`/v1/sessions/${otherSession}`, auth)).status).toBe(404);
    expect((await get(`/v1/sessions/${otherSession}/requests/${otherAsked.body.requestId}`, auth)).status).toBe(404);
    // A request of the other session, asked for under this one: still 404.
    expect((await get(`/v1/sessions/${session}/requests/${otherAsked.body.requestId}`, auth)).status).toBe(404);
    expect((await get(`/v1/runs/${otherAsked.body.runId}`, auth)).status).toBe(404);

    // Without "create" it sends no requests; with "stop" it closes the session.
    expect((await ask(auth, session)).status).toBe(403);
    const closed = await stack.http.delete(`/v1/sessions/${session}`).set(auth);
    expect(closed.status).toBe(202);
    expect((await stack.http.delete(`/v1/sessions/${otherSession}`).set(auth)).status).toBe(404);
  });
});

describe('a user scope', () => {
  test('sees that end user\'s runs and sessions, present and future, and nobody else\'s', async () => {
    const account = await createAccount(stack, 10_000);
    const [alice, bob] = [`alice-${tag()}`, `bob-${tag()}`];
    const before = await finishedRun(account, { user: alice });
    const bobs = await finishedRun(account, { user: bob });
    const nobody = await finishedRun(account);
    const token = asToken(await issue(account, { scope: { user: alice } }));
    const later = await finishedRun(account, { user: alice });
    const session = await createSession(account, { user: alice });
    const bobSession = await createSession(account, { user: bob });

    expect((await get('/v1/runs', token)).body.data.map((r: { id: string }) => r.id)).toEqual([later.id, before.id]);
    expect((await get('/v1/sessions', token)).body.data.map((s: { id: string }) => s.id)).toEqual([session]);
    for (const id of [bobs.id, nobody.id]) expect((await get(`/v1/runs/${id}`, token)).status).toBe(404);
    expect((await get(`/v1/sessions/${bobSession}`, token)).status).toBe(404);
    // Filtering for another user through a user token finds nothing rather than widening the scope.
    expect((await get(`/v1/runs?user=${bob}`, token)).body.data).toEqual([]);
  });

  test('with "create", starts runs and sessions that are always that end user\'s and billed to the account', async () => {
    const account = await createAccount(stack, 10_000);
    const alice = `alice-${tag()}`;
    const token = asToken(await issue(account, { scope: { user: alice }, permissions: ['read', 'create'] }));

    const run = await stack.http.post('/v1/runs').set(token).send({ prompt: 'from the browser', maxTokens: 5 });
    expect(run.status).toBe(202);
    expect((await waitForRun(stack, account, run.body.id)).user).toBe(alice);
    const spoofed = await stack.http.post('/v1/runs').set(token).send({ prompt: 'p', maxTokens: 5, user: 'someone-else' });
    expect(spoofed.status).toBe(403);
    expect(spoofed.body.type).toBe(`${PROBLEM}token-scope`);

    const session = await stack.http.post('/v1/sessions').set(token).send({ model: 'openai/chat', maxTokens: 20 });
    expect(session.status).toBe(201);
    expect(session.body.user).toBe(alice);
    const asked = await ask(token, session.body.id);
    expect(asked.status).toBe(202);
    expect((await waitForRun(stack, account, asked.body.runId)).user).toBe(alice);

    // Another end user's session is not there for this token, by either route.
    const bobSession = await createSession(account, { user: `bob-${tag()}` });
    expect((await ask(token, bobSession)).status).toBe(404);
    const joined = await stack.http.post('/v1/runs').set(token).send({ prompt: 'p', maxTokens: 5, sessionId: bobSession });
    expect(joined.status).toBe(404);

    const ledger = await get('/v1/account/ledger', bearer(account));
    const charged = ledger.body.data.filter((e: { kind: string }) => e.kind === 'charge').map((e: { runId: string }) => e.runId);
    expect(charged.sort()).toEqual([run.body.id, asked.body.runId].sort());
  });

  test('an Idempotency-Key of one end user never replays another\'s run', async () => {
    const account = await createAccount(stack, 10_000);
    const alice = asToken(await issue(account, { scope: { user: `alice-${tag()}` }, permissions: ['read', 'create'] }));
    const bob = asToken(await issue(account, { scope: { user: `bob-${tag()}` }, permissions: ['read', 'create'] }));
    const body = { prompt: 'same body', maxTokens: 5 };
    const a = await stack.http.post('/v1/runs').set({ ...alice, 'idempotency-key': 'k1' }).send(body);
    const b = await stack.http.post('/v1/runs').set({ ...bob, 'idempotency-key': 'k1' }).send(body);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.body.id).not.toBe(a.body.id);
    expect((await get(`/v1/runs/${a.body.id}`, bob)).status).toBe(404);
  });
});

describe('a create token\'s limits (issue #26)', () => {
  const creator = async (account: TestAccount, user: string, limits?: Record<string, unknown>) =>
    asToken(await issue(account, { scope: { user }, permissions: ['read', 'create'], ...(limits ? { limits } : {}) }));
  const post = (auth: Record<string, string>, body: Record<string, unknown>) =>
    stack.http.post('/v1/runs').set(auth).send({ prompt: `p ${tag()}`, model: 'openai/chat', maxTokens: 10, ...body });

  test('workspaces, setup commands and CLI agents are refused unless granted', async () => {
    const account = await createAccount(stack, 10_000);
    const token = await creator(account, `alice-${tag()}`);
    const workspace = { repo: 'https://github.com/example/repo' };
    const refusals = [
      await post(token, { workspace }),
      await post(token, { model: 'cli/claude' }),
      await stack.http.post('/v1/sessions').set(token).send({ model: 'openai/chat', workspace }),
      await stack.http.post('/v1/sessions').set(token).send({ model: 'cli/claude' }),
    ];
    expect(refusals.map((r) => [r.status, r.body.type, r.body.limit])).toEqual([
      [403, `${PROBLEM}token-limit`, 'workspace'],
      [403, `${PROBLEM}token-limit`, 'cli-agent'],
      [403, `${PROBLEM}token-limit`, 'workspace'],
      [403, `${PROBLEM}token-limit`, 'cli-agent'],
    ]);
    // Granted workspaces without setup: a setup command is still refused.
    const granted = await creator(account, `bob-${tag()}`, { allow: { workspaces: true } });
    const setup = await post(granted, { workspace: { ...workspace, setup: ['npm ci'] } });
    expect([setup.status, setup.body.limit]).toEqual([403, 'setup']);
    // Nothing was reserved for any of them.
    expect((await get('/v1/account', bearer(account))).body.reserved).toBe(0);
  });

  test('a create token issued without a per-run maximum or a budget gets the operator defaults', async () => {
    const account = await createAccount(stack, 10_000_000);
    const issued = await stack.http.post('/v1/tokens').set(bearer(account)).send({ scope: { user: `zed-${tag()}` }, permissions: ['read', 'create'] });
    expect(issued.status).toBe(201);
    expect(issued.body.limits).toMatchObject({ maxEstimate: stack.config.tokenDefaults.maxEstimate, budget: stack.config.tokenDefaults.budget });
    const huge = await post(asToken(issued.body.token), { model: 'demo/echo', maxTokens: 200_000 });
    expect([huge.status, huge.body.type, huge.body.limit]).toEqual([403, `${PROBLEM}token-limit`, 'max-estimate']);
    // A read-only token carries no spending limits; an explicit maximum is kept as given.
    const reader = await stack.http.post('/v1/tokens').set(bearer(account)).send({ scope: { user: 'zed' }, permissions: ['read'] });
    expect(reader.body).not.toHaveProperty('limits');
    const explicit = await stack.http.post('/v1/tokens').set(bearer(account)).send({ scope: { user: 'zed' }, permissions: ['create'], limits: { maxEstimate: 50_000 } });
    expect(explicit.body.limits).toMatchObject({ maxEstimate: 50_000, budget: stack.config.tokenDefaults.budget });
    expect((await post(asToken(explicit.body.token), { model: 'demo/echo', maxTokens: 20_000 })).status).toBe(202);
  });

  test('models and the largest estimate per run bind the token', async () => {
    const account = await createAccount(stack, 10_000);
    const token = await creator(account, `alice-${tag()}`, { models: ['openai/*'], maxEstimate: 300 });
    const echo = await post(token, { model: 'demo/echo' });
    expect([echo.status, echo.body.type, echo.body.limit]).toEqual([403, `${PROBLEM}token-limit`, 'model']);
    expect((await post(token, {})).status).toBe(202);
    const big = await post(token, { maxTokens: 200_000 });
    expect([big.status, big.body.limit]).toEqual([403, 'max-estimate']);
    // An exact name in the list allows that model only.
    const exact = await creator(account, `bob-${tag()}`, { models: ['demo/echo'] });
    expect((await post(exact, { model: 'demo/echo' })).status).toBe(202);
    expect((await post(exact, {})).status).toBe(403);
    const invalid = await stack.http.post('/v1/tokens').set(bearer(account)).send({ scope: { user: 'u' }, permissions: ['create'], limits: { models: ['*'] } });
    expect(invalid.status).toBe(400);
  });

  test('a token\'s budget and its end user\'s budget per period are decided at admission; the account key is not bound by them', async () => {
    const account = await createAccount(stack, 100_000);
    const alice = `alice-${tag()}`;
    // One prompt for every run: the tokenizer's estimate of a random tag varies by a token or two.
    const same = { prompt: 'one budget probe' };
    const first = await post(await creator(account, `probe-${tag()}`), same);
    expect(first.status).toBe(202);
    const estimate = first.body.estimate as number;

    // The token's own budget: two runs fit, the third does not.
    const token = await creator(account, alice, { budget: 2 * estimate + Math.floor(estimate / 2) });
    expect((await post(token, same)).status).toBe(202);
    expect((await post(token, same)).status).toBe(202);
    const over = await post(token, same);
    expect(over.status).toBe(402);
    expect(over.body).toMatchObject({ type: `${PROBLEM}budget-exceeded`, scope: 'token' });

    // Her daily budget spans all her tokens: 2 runs spent already (above), room for one more.
    const daily = { userBudget: { credits: 3 * estimate, period: 'day' } };
    const second = await creator(account, alice, daily);
    expect((await post(second, same)).status).toBe(202);
    const third = await creator(account, alice, daily);
    const dayOver = await post(third, same);
    expect(dayOver.status).toBe(402);
    expect(dayOver.body).toMatchObject({ type: `${PROBLEM}budget-exceeded`, scope: 'user' });
    // Another end user has their own; the account key is not held to a token's budgets.
    expect((await post(await creator(account, `bob-${tag()}`, daily), same)).status).toBe(202);
    expect((await startRun(stack, account, { prompt: 'key', model: 'openai/chat', maxTokens: 10, user: alice })).status).toBe(202);
    // A refusal reserved nothing: every reserve belongs to an admitted run.
    const ledger = await get('/v1/account/ledger?limit=100', bearer(account));
    expect(ledger.body.data.filter((e: { kind: string }) => e.kind === 'reserve')).toHaveLength(6);
  });

  test('metadata a token\'s holder writes is kept apart from the tenant\'s, in the run, the session and the webhook payload', async () => {
    const account = await createAccount(stack, 10_000);
    const token = await creator(account, `alice-${tag()}`);
    const posted = await post(token, { metadata: { plan: 'enterprise' } });
    expect(posted.status).toBe(202);
    const run = await waitForRun(stack, account, posted.body.id);
    expect(run).toMatchObject({ metadata: {}, userMetadata: { plan: 'enterprise' } });
    const byKey = await startRun(stack, account, { prompt: 'k', maxTokens: 5, metadata: { plan: 'enterprise' } });
    expect(await waitForRun(stack, account, byKey.body.id)).toMatchObject({ metadata: { plan: 'enterprise' }, userMetadata: null });

    const session = await stack.http.post('/v1/sessions').set(token).send({ model: 'openai/chat', maxTokens: 20, metadata: { tier: 'x' } });
    expect(session.body).toMatchObject({ metadata: {}, userMetadata: { tier: 'x' } });
    const asked = await stack.http.post(`/v1/sessions/${session.body.id}/requests`).set(token).send({ prompt: 'q', metadata: { a: 1 } });
    expect(await waitForRun(stack, account, asked.body.runId)).toMatchObject({ metadata: {}, userMetadata: { a: 1 } });

    const row = await stack.db.selectFrom('runs').select(RUN_EVENT_COLUMNS).where('id', '=', run.id).executeTakeFirstOrThrow();
    const payload = JSON.parse(runEventBody(row, 'run.succeeded', new Date()));
    expect(payload.data).toMatchObject({ metadata: {}, userMetadata: { plan: 'enterprise' } });
  });
});

describe('expiry, revocation and forgery', () => {
  test('an expired token is 401', async () => {
    const account = await createAccount(stack, 1000);
    const run = await finishedRun(account);
    const token = asToken(await issue(account, { scope: { runs: [run.id] }, expiresIn: 1 }));
    expect((await get(`/v1/runs/${run.id}`, token)).status).toBe(200);
    await sleep(2100);
    const res = await get(`/v1/runs/${run.id}`, token);
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/expired/);
  });

  test('revoke-all ends every token issued before it at once; the API key and new tokens keep working', async () => {
    const account = await createAccount(stack, 1000);
    const other = await createAccount(stack, 1000);
    const started = await startRun(stack, account, { prompt: 'revoke me', maxTokens: 5 });
    const run = await waitForRun(stack, account, started.body.id);
    const issued = asToken(await issue(account, { scope: { user: 'u' }, expiresIn: 86_400 }));
    const publicToken = asToken(started.body.publicAccessToken);
    const theirRun = await finishedRun(other);
    const theirs = asToken(await issue(other, { scope: { runs: [theirRun.id] } }));

    const revoked = await stack.http.post('/v1/tokens/revoke-all').set(bearer(account));
    expect(revoked.status).toBe(200);
    for (const auth of [issued, publicToken]) {
      const res = await get(`/v1/runs/${run.id}`, auth);
      expect(res.status).toBe(401);
      expect(res.body.detail).toMatch(/revoked/);
    }
    expect((await get(`/v1/runs/${run.id}`, bearer(account))).status).toBe(200);
    const fresh = asToken(await issue(account, { scope: { runs: [run.id] } }));
    expect((await get(`/v1/runs/${run.id}`, fresh)).status).toBe(200);
    // Another account's tokens are untouched.
    expect((await get(`/v1/runs/${theirRun.id}`, theirs)).status).toBe(200);
  });

  test('a tampered, foreign-keyed or unsigned token is 401', async () => {
    const account = await createAccount(stack, 1000);
    const run = await finishedRun(account);
    const other = await finishedRun(account);
    const token = await issue(account, { scope: { runs: [run.id] } });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: { runs: [other.id] } })).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const foreign = await new SignJWT({ scope: { runs: [other.id] }, perm: ['read'], gen: 0 })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('runway').setAudience('runway-api').setSubject(account.id).setIssuedAt(now).setExpirationTime(now + 600)
      .sign(randomBytes(32));
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${widened}.`;
    for (const forged of [`${header}.${widened}.${signature}`, foreign, none, `${token}x`, 'a.b.c']) {
      expect((await get(`/v1/runs/${other.id}`, asToken(forged))).status).toBe(401);
    }
  });
});

describe('stream slots', () => {
  test('a token\'s holder (its end user, or the token) keeps at most RUNWAY_MAX_STREAMS_PER_USER streams; the account key is not held to it', async () => {
    const account = await createAccount(stack, 10_000);
    const [alice, bob] = [`alice-${tag()}`, `bob-${tag()}`];
    const aliceRun = await heldRun(account, { user: alice });
    const bobRun = await heldRun(account, { user: bob });
    // A run that serves no end user: a token for it is its own holder.
    const plainRun = await heldRun(account);
    const aliceToken = await issue(account, { scope: { user: alice } });
    const bobToken = await issue(account, { scope: { user: bob } });
    const runToken = await issue(account, { scope: { runs: [plainRun] } });
    const open = (run: string, auth: { token?: string; key?: string }) =>
      SseConnection.open(`${stack.baseUrl}/v1/runs/${run}/events${auth.token ? `?access_token=${auth.token}` : ''}`, auth.key ? bearer(account) : {});
    const opened: SseConnection[] = [];
    try {
      for (let i = 0; i < 2; i++) opened.push(await open(aliceRun, { token: aliceToken }));
      // A second token for the same end user shares her slots.
      const sameUser = await issue(account, { scope: { user: alice } });
      for (const third of [await open(aliceRun, { token: aliceToken }), await open(aliceRun, { token: sameUser })]) {
        expect(third.status).toBe(429);
        third.close();
      }
      const refused = await fetch(`${stack.baseUrl}/v1/runs/${aliceRun}/events?access_token=${aliceToken}`);
      expect(await refused.json()).toMatchObject({ type: `${PROBLEM}too-many-streams`, scope: 'user', maxStreams: 2 });
      // Others are not affected: another end user, a token scoped to runs (its own slots), the key.
      opened.push(await open(bobRun, { token: bobToken }), await open(plainRun, { token: runToken }), await open(plainRun, { token: runToken }));
      for (let i = 0; i < 3; i++) opened.push(await open(aliceRun, { key: account.apiKey }));
      expect(opened.map((c) => c.status)).toEqual(Array(opened.length).fill(200));
      expect((await open(plainRun, { token: runToken })).status).toBe(429);
      // A closed stream gives its slot back.
      opened.shift()?.close();
      await sleep(200);
      const again = await open(aliceRun, { token: aliceToken });
      expect(again.status).toBe(200);
      opened.push(again);
    } finally {
      for (const c of opened) c.close();
      for (const id of [aliceRun, bobRun, plainRun]) await stack.http.post(`/v1/runs/${id}/stop`).set(bearer(account));
    }
  });

  test('the read tokens of an end user\'s runs (one per 202, Idempotency replays included) are that user\'s holder, not one each (issue #26)', async () => {
    const account = await createAccount(stack, 10_000);
    const alice = `alice-${tag()}`;
    const create = await issue(account, { scope: { user: alice }, permissions: ['read', 'create'] });
    const prompt = `hold ${tag()}`;
    fake.when(prompt, { kind: 'hang' });
    const key = `k-${tag()}`;
    const post = () =>
      stack.http.post('/v1/runs').set({ ...asToken(create), 'idempotency-key': key }).send({ prompt, model: 'openai/chat', maxTokens: 10 });
    // A second apart, so that even tokens signed without a unique id differ.
    const replies = [await post()];
    for (let i = 0; i < 2; i++) replies.push(await sleep(1100).then(post));
    expect(replies.map((r) => r.status)).toEqual([202, 202, 202]);
    const run = replies[0]?.body.id as string;
    const tokens = replies.map((r) => r.body.publicAccessToken as string);
    expect(new Set(tokens).size).toBe(3);
    const opened: SseConnection[] = [];
    try {
      for (const t of tokens.slice(0, 2)) opened.push(await SseConnection.open(`${stack.baseUrl}/v1/runs/${run}/events?access_token=${t}`, {}));
      expect(opened.map((c) => c.status)).toEqual([200, 200]);
      const third = await fetch(`${stack.baseUrl}/v1/runs/${run}/events?access_token=${tokens[2]}`);
      expect(third.status).toBe(429);
      expect(await third.json()).toMatchObject({ type: `${PROBLEM}too-many-streams`, scope: 'user', maxStreams: 2 });
      // Nor is a 202 of another of her runs, started by the account's backend.
      const again = await startRun(stack, account, { prompt: `other ${tag()}`, maxTokens: 5, user: alice });
      const fourth = await fetch(`${stack.baseUrl}/v1/runs/${again.body.id}/events?access_token=${again.body.publicAccessToken}`);
      expect(fourth.status).toBe(429);
    } finally {
      for (const c of opened) c.close();
      for (const id of [run]) await stack.http.post(`/v1/runs/${id}/stop`).set(bearer(account));
    }
  });
});

describe('CORS', () => {
  test('a configured origin\'s preflight is answered with the headers a browser page needs', async () => {
    const res = await stack.http
      .options('/v1/runs')
      .set({ origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase().split(',');
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'last-event-id', 'idempotency-key']));
    expect(String(res.headers['access-control-allow-methods'])).toContain('POST');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  test('responses to a configured origin expose Location; any other origin gets no CORS headers', async () => {
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt: 'cors', maxTokens: 5 }, { origin: ORIGIN });
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(String(res.headers['access-control-expose-headers'])).toContain('Location');
    const problem = await stack.http.get('/v1/runs/run_missing').set({ ...bearer(account), origin: ORIGIN });
    expect(problem.status).toBe(404);
    expect(problem.headers['access-control-allow-origin']).toBe(ORIGIN); // a page can read the problem too

    for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.com', 'null']) {
      const pre = await stack.http.options('/v1/runs').set({ origin, 'access-control-request-method': 'POST' });
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      const got = await stack.http.get('/v1/runs').set({ ...bearer(account), origin });
      expect(got.headers['access-control-allow-origin']).toBeUndefined();
    }
  });
});
