import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { createFixtureRepo, type FixtureRepo } from './helpers/git-repos';
import { SseConnection } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';

/** Sessions are bounded per end user, close when idle, and a preparing one counts as an active run (issue #26, item 5). */
const PROBLEM = 'https://runway.dev/problems/';
const IDLE_MS = 3000;
const WORKDIR = process.env.RUNWAY_TEST_WORKDIR as string;
const tmp = path.join(WORKDIR, `sessions-limits-${process.pid}`);

let stack: TestStack;
let repo: FixtureRepo;
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['fine'] });
const tag = () => Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  await fake.start();
  repo = createFixtureRepo(path.join(tmp, 'repos'));
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_PRICES: JSON.stringify({ 'openai/chat': { input: 1000, output: 1000 } }),
      RUNWAY_MAX_OPEN_SESSIONS_PER_USER: '2',
      RUNWAY_SESSION_IDLE_TIMEOUT_MS: String(IDLE_MS),
      RUNWAY_LOCAL_REPOS_ROOT: path.join(tmp, 'repos'),
      RUNWAY_WORKSPACES_DIR: path.join(tmp, 'workspaces'),
      RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
});

const createSession = (account: TestAccount, body: Record<string, unknown> = {}) =>
  stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'openai/chat', maxTokens: 20, ...body });

async function statusOf(account: TestAccount, id: string): Promise<string> {
  return (await stack.http.get(`/v1/sessions/${id}`).set(bearer(account))).body.status as string;
}

async function waitClosed(account: TestAccount, id: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await statusOf(account, id)) !== 'closed') {
    if (Date.now() > deadline) throw new Error(`session ${id} did not close`);
    await sleep(100);
  }
}

test('one end user keeps at most RUNWAY_MAX_OPEN_SESSIONS_PER_USER open sessions; others, and the account, are not held to it', async () => {
  const account = await createAccount(stack, 10_000);
  const [alice, bob] = [`alice-${tag()}`, `bob-${tag()}`];
  const mine = [await createSession(account, { user: alice }), await createSession(account, { user: alice })];
  expect(mine.map((r) => r.status)).toEqual([201, 201]);
  const third = await createSession(account, { user: alice });
  expect(third.status).toBe(429);
  expect(third.body).toMatchObject({ type: `${PROBLEM}too-many-open-sessions`, scope: 'user', maxOpenSessions: 2 });
  expect((await createSession(account, { user: bob })).status).toBe(201);
  expect((await createSession(account)).status).toBe(201);
  // A closed session gives its slot back.
  const first = mine[0]?.body.id as string;
  expect((await stack.http.delete(`/v1/sessions/${first}`).set(bearer(account))).status).toBe(202);
  await waitClosed(account, first);
  expect((await createSession(account, { user: alice })).status).toBe(201);
});

test("an end user's browser at its own session cap is told it is its own cap, without the account's counts", async () => {
  const account = await createAccount(stack, 10_000);
  const dave = `dave-${tag()}`;
  const issued = await stack.http.post('/v1/tokens').set(bearer(account)).send({ scope: { user: dave }, permissions: ['read', 'create'] });
  expect(issued.status).toBe(201);
  const asDave = { Authorization: `Bearer ${issued.body.token as string}` };
  const open = () => stack.http.post('/v1/sessions').set(asDave).send({ model: 'openai/chat', maxTokens: 20 });
  expect([(await open()).status, (await open()).status]).toEqual([201, 201]);
  const third = await open();
  expect(third.status).toBe(429);
  expect(third.body).toMatchObject({ type: `${PROBLEM}too-many-open-sessions`, scope: 'user' });
  expect(third.body).not.toHaveProperty('maxOpenSessions');
  expect(third.body.detail).not.toMatch(/\d/);
});

test('a session with nothing queued or running closes itself after RUNWAY_SESSION_IDLE_TIMEOUT_MS; a busy one does not', async () => {
  const account = await createAccount(stack, 10_000);
  const created = await createSession(account, { user: `carol-${tag()}` });
  expect(created.status).toBe(201);
  const id = created.body.id as string;
  const events = await SseConnection.open(`${stack.baseUrl}/v1/sessions/${id}/events`, bearer(account));
  // A request longer than the idle timeout: the session is busy, not idle, meanwhile.
  const prompt = `slow ${tag()}`;
  fake.when(prompt, { kind: 'stream', tokens: ['slow answer'], delayMs: IDLE_MS + 2000 });
  const asked = await stack.http.post(`/v1/sessions/${id}/requests`).set(bearer(account)).send({ prompt });
  expect(asked.status).toBe(202);
  const run = await waitForRun(stack, account, asked.body.runId);
  expect(run).toMatchObject({ status: 'succeeded', output: 'slow answer' });
  expect(await statusOf(account, id)).toBe('open');
  const idleSince = Date.now();
  await waitClosed(account, id);
  expect(Date.now() - idleSince).toBeGreaterThanOrEqual(IDLE_MS - 1000);
  await events.finished();
  expect(events.messages.map((m) => m.type)).toEqual(expect.arrayContaining(['request.completed', 'end']));
  const late = await stack.http.post(`/v1/sessions/${id}/requests`).set(bearer(account)).send({ prompt: 'too late' });
  expect(late.status).toBe(409);
});

test('a session preparing its workspace counts as an active run, for the account and for its end user', async () => {
  const account = await createAccount(stack, 10_000, { maxActiveRuns: 1 });
  const dave = `dave-${tag()}`;
  // Its preparation lasts until the session is closed.
  const preparing = await createSession(account, { user: dave, model: 'demo/echo', workspace: { repo: repo.path, setup: ['sleep 120'] } });
  expect(preparing.status).toBe(201);
  const id = preparing.body.id as string;
  const run = await startRun(stack, account, { prompt: 'p', maxTokens: 5, user: `erin-${tag()}` });
  expect(run.status).toBe(429);
  expect(run.body).toMatchObject({ type: `${PROBLEM}too-many-active-runs`, scope: 'account' });
  const another = await createSession(account, { model: 'demo/echo', workspace: { repo: repo.path } });
  expect(another.status).toBe(429);
  expect(another.body).toMatchObject({ type: `${PROBLEM}too-many-active-runs`, scope: 'account' });
  // A session without a workspace holds no worker: it is not refused.
  expect((await createSession(account)).status).toBe(201);
  // Its own first request waits for the preparation: the session is not counted twice.
  const own = await stack.http.post(`/v1/sessions/${id}/requests`).set(bearer(account)).send({ prompt: 'first' });
  expect(own.status).toBe(202);

  expect((await stack.http.delete(`/v1/sessions/${id}`).set(bearer(account))).status).toBe(202);
  await waitClosed(account, id, 60_000);
  const after = await startRun(stack, account, { prompt: 'p', maxTokens: 5 });
  expect(after.status).toBe(202);

  // The end user's cap: her preparing session is her one active run; another user is not affected.
  const perUser = await createAccount(stack, 10_000, { maxActiveRuns: 5, maxActiveRunsPerUser: 1 });
  const hers = await createSession(perUser, { user: dave, model: 'demo/echo', workspace: { repo: repo.path, setup: ['sleep 120'] } });
  expect(hers.status).toBe(201);
  const herOwn = await stack.http.post(`/v1/sessions/${hers.body.id}/requests`).set(bearer(perUser)).send({ prompt: 'first' });
  expect(herOwn.status).toBe(202);
  const daveRun = await startRun(stack, perUser, { prompt: 'p', maxTokens: 5, user: dave });
  expect(daveRun.body).toMatchObject({ status: 429, type: `${PROBLEM}too-many-active-runs`, scope: 'user' });
  const daveSession = await createSession(perUser, { user: dave, model: 'demo/echo', workspace: { repo: repo.path } });
  expect(daveSession.body).toMatchObject({ status: 429, type: `${PROBLEM}too-many-active-runs`, scope: 'user' });
  expect((await startRun(stack, perUser, { prompt: 'p', maxTokens: 5, user: `erin-${tag()}` })).status).toBe(202);
  await stack.http.delete(`/v1/sessions/${hers.body.id}`).set(bearer(perUser));
  await waitClosed(perUser, hers.body.id as string, 60_000);
});
