import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { startStack, type TestStack } from './helpers/stack';

/** End users on runs and sessions, and the per-user cap on active runs (issue #16). */
const PROBLEM = 'https://runway.dev/problems/';
const DEFAULT_PER_USER = 2;
let stack: TestStack;
/** Prompts starting with "hold" never get an answer: their runs stay active until stopped. */
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['fine'] });
const tag = () => Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  await fake.start();
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_PRICES: JSON.stringify({ 'openai/chat': { input: 1000, output: 1000 } }),
      RUNWAY_MAX_ACTIVE_RUNS_PER_USER: String(DEFAULT_PER_USER),
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
});

async function createSession(account: TestAccount, body: Record<string, unknown>) {
  const res = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'openai/chat', maxTokens: 20, ...body });
  expect(res.status).toBe(201);
  return res.body as { id: string; user: string | null };
}

async function temporalIdsFor(user: string, expected: number): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ids: string[] = [];
    for await (const wf of stack.temporal.workflow.list({ query: `RunwayUser = '${user}'` })) ids.push(wf.workflowId);
    if (ids.length >= expected || Date.now() > deadline) return ids.sort();
    await sleep(200);
  }
}

/** Starts a run whose provider never answers: it holds an active slot until stopped. */
async function holdSlot(account: TestAccount, body: Record<string, unknown> = {}) {
  const prompt = `hold ${tag()}`;
  fake.when(prompt, { kind: 'hang' });
  return startRun(stack, account, { prompt, model: 'openai/chat', maxTokens: 10, ...body });
}

async function stopAll(account: TestAccount, ids: string[]) {
  for (const id of ids) await stack.http.post(`/v1/runs/${id}/stop`).set(bearer(account));
  for (const id of ids) await waitForRun(stack, account, id);
}

test('runs and sessions carry their end user; lists and the Temporal UI filter by it', async () => {
  const account = await createAccount(stack, 10_000);
  const alice = `alice.${tag()}@example.com`;
  const bob = `bob:${tag()}`;
  const aliceRun = await startRun(stack, account, { prompt: 'for alice', maxTokens: 5, user: alice });
  const bobRun = await startRun(stack, account, { prompt: 'for bob', maxTokens: 5, user: bob });
  const nobodyRun = await startRun(stack, account, { prompt: 'for nobody', maxTokens: 5 });
  for (const r of [aliceRun, bobRun, nobodyRun]) expect(r.status).toBe(202);
  expect((await waitForRun(stack, account, aliceRun.body.id)).user).toBe(alice);
  expect((await waitForRun(stack, account, nobodyRun.body.id)).user).toBeNull();

  // A session's requests inherit its end user.
  const session = await createSession(account, { user: alice });
  expect(session.user).toBe(alice);
  await createSession(account, { user: bob });
  const asked = await stack.http.post(`/v1/sessions/${session.id}/requests`).set(bearer(account)).send({ prompt: 'hi' });
  expect(asked.status).toBe(202);
  expect((await waitForRun(stack, account, asked.body.runId)).user).toBe(alice);

  const runs = await stack.http.get(`/v1/runs?user=${encodeURIComponent(alice)}`).set(bearer(account));
  expect(runs.status).toBe(200);
  expect(runs.body.data.map((r: { id: string }) => r.id).sort()).toEqual([aliceRun.body.id, asked.body.runId].sort());
  const sessions = await stack.http.get(`/v1/sessions?user=${encodeURIComponent(alice)}`).set(bearer(account));
  expect(sessions.status).toBe(200);
  expect(sessions.body.data.map((s: { id: string }) => s.id)).toEqual([session.id]);
  const allSessions = await stack.http.get('/v1/sessions').set(bearer(account));
  expect(allSessions.body.data.map((s: { user: string }) => s.user)).toEqual([bob, alice]);

  // Another account's end user of the same name is theirs alone.
  const other = await createAccount(stack, 1000);
  expect((await stack.http.get(`/v1/runs?user=${encodeURIComponent(alice)}`).set(bearer(other))).body.data).toEqual([]);

  expect(await temporalIdsFor(alice, 3)).toEqual([aliceRun.body.id, asked.body.runId, session.id].sort());
});

test('an end-user id outside 1-128 characters of [A-Za-z0-9._:@-] is refused with problem+json', async () => {
  const account = await createAccount(stack, 1000);
  for (const user of ['', 'has space', 'ümlaut', 'a/b', 'x'.repeat(129), 'nul\u0000byte', 42]) {
    const res = await startRun(stack, account, { prompt: 'p', maxTokens: 5, user });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  }
  const list = await stack.http.get('/v1/sessions?user=a%20b').set(bearer(account));
  expect(list.status).toBe(400);
  expect((await startRun(stack, account, { prompt: 'p', maxTokens: 5, user: 'x'.repeat(128) })).status).toBe(202);
});

test('one end user cannot take every slot: the per-user cap answers 429 with scope "user"', async () => {
  const account = await createAccount(stack, 10_000, { maxActiveRuns: 5, maxActiveRunsPerUser: 1 });
  const alice = `alice-${tag()}`;
  const first = await holdSlot(account, { user: alice });
  expect(first.status).toBe(202);
  const second = await holdSlot(account, { user: alice });
  expect(second.status).toBe(429);
  expect(second.body).toMatchObject({ type: `${PROBLEM}too-many-active-runs`, scope: 'user' });
  expect(second.body.detail).toContain(alice);

  // Her session's requests count against her too; other users and user-less runs are unaffected.
  const session = await createSession(account, { user: alice });
  const asked = await stack.http.post(`/v1/sessions/${session.id}/requests`).set(bearer(account)).send({ prompt: 'hi' });
  expect(asked.status).toBe(429);
  expect(asked.body.scope).toBe('user');
  const bob = await holdSlot(account, { user: `bob-${tag()}` });
  const nobody = await holdSlot(account);
  expect([bob.status, nobody.status]).toEqual([202, 202]);

  await stopAll(account, [first.body.id]);
  const again = await holdSlot(account, { user: alice });
  expect(again.status).toBe(202);
  await stopAll(account, [again.body.id, bob.body.id, nobody.body.id]);
});

test('the account cap still applies across users, with scope "account"', async () => {
  const account = await createAccount(stack, 10_000, { maxActiveRuns: 2, maxActiveRunsPerUser: 5 });
  const a = await holdSlot(account, { user: 'u1' });
  const b = await holdSlot(account, { user: 'u2' });
  const c = await holdSlot(account, { user: 'u3' });
  expect([a.status, b.status, c.status]).toEqual([202, 202, 429]);
  expect(c.body).toMatchObject({ type: `${PROBLEM}too-many-active-runs`, scope: 'account' });
  await stopAll(account, [a.body.id, b.body.id]);
});

test('without an account setting, RUNWAY_MAX_ACTIVE_RUNS_PER_USER is the per-user cap', async () => {
  const account = await createAccount(stack, 10_000, { maxActiveRuns: 10 });
  const held = [];
  for (let i = 0; i < DEFAULT_PER_USER; i++) held.push(await holdSlot(account, { user: 'carol' }));
  expect(held.map((r) => r.status)).toEqual(Array(DEFAULT_PER_USER).fill(202));
  const over = await holdSlot(account, { user: 'carol' });
  expect(over.status).toBe(429);
  expect(over.body.scope).toBe('user');
  await stopAll(account, held.map((r) => r.body.id));
});

test('the admin CLI sets the per-user cap of a new account', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, '..', 'src', 'bin', 'admin.ts'), 'create-account', '--name', 'cli', '--credits', '100', '--max-active-runs-per-user', '3'],
    { env: { ...process.env, RUNWAY_ADMIN_TOKEN: stack.adminToken, RUNWAY_SECRETS_KEY: stack.secretsKey.toString('base64') } },
  );
  const created = JSON.parse(stdout) as { id: string };
  const row = await stack.db.selectFrom('accounts').select(['max_active_runs_per_user']).where('id', '=', created.id).executeTakeFirstOrThrow();
  expect(row.max_active_runs_per_user).toBe(3);
});
