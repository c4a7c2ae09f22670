import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { admitInDatabase } from '../src/db/admission';
import { derivedId, newId } from '../src/ids';
import { requestIdOf } from '../src/sessions/session-service';
import { RUN_WORKFLOW_TYPE } from '../workflows/definitions';
import { bearer, createAccount, expectLedgerConsistent, getRun, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { admissionRequest, admitWithoutStart } from './helpers/run-input';
import { deleteRunStarts } from '../src/db/run-starts';
import { createFixtureRepo, type FixtureRepo } from './helpers/git-repos';
import { startStack, type TestStack } from './helpers/stack';

/** Audit items about accounts, admission and sessions (issue: "Tenants are hostile"). */
const PRICES = JSON.stringify({ 'openai/chat': { input: 1000, output: 1000 } });
const MAX_OPEN_SESSIONS = 3;
const PROBLEM = 'https://runway.dev/problems/';
const WORKDIR = process.env.RUNWAY_TEST_WORKDIR as string;
const tmp = path.join(WORKDIR, `security-tenants-${process.pid}`);
const reposRoot = path.join(tmp, 'repos');

let stack: TestStack;
let repo: FixtureRepo;
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['fine'] });
beforeAll(async () => {
  await fake.start();
  repo = createFixtureRepo(reposRoot);
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_PRICES: PRICES,
      RUNWAY_MAX_OPEN_SESSIONS: String(MAX_OPEN_SESSIONS),
      RUNWAY_LOCAL_REPOS_ROOT: reposRoot,
      RUNWAY_WORKSPACES_DIR: path.join(tmp, 'workspaces'),
      RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
  // GNU rm copes with the tree deeper than PATH_MAX that one test leaves behind; Node's rm does not.
  execFileSync('rm', ['-rf', tmp]);
});

async function createSession(account: TestAccount, body: Record<string, unknown> = {}) {
  return stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'openai/chat', maxTokens: 20, ...body });
}

async function openSession(account: TestAccount, body: Record<string, unknown> = {}): Promise<string> {
  const res = await createSession(account, body);
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function waitForSessionStatus(account: TestAccount, id: string, status: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await stack.http.get(`/v1/sessions/${id}`).set(bearer(account));
    if (view.body.status === status) return view.body;
    if (Date.now() > deadline) throw new Error(`session ${id} still ${view.body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const runsOf = async (accountId: string) =>
  stack.db.selectFrom('runs').select(['id']).where('account_id', '=', accountId).execute();

describe('sessions belong to their account', () => {
  test("a run posted with another account's session id is a 404 exactly like an unknown one, and starts nothing", async () => {
    const owner = await createAccount(stack, 10_000);
    const intruder = await createAccount(stack, 10_000);
    const session = await openSession(owner);
    const foreign = await startRun(stack, intruder, { prompt: 'join', model: 'openai/chat', maxTokens: 5, sessionId: session });
    const unknown = await startRun(stack, intruder, { prompt: 'join', model: 'openai/chat', maxTokens: 5, sessionId: 'ses_doesnotexist' });
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual(unknown.body);
    expect(foreign.body).toMatchObject({ type: `${PROBLEM}not-found`, status: 404 });
    expect(await runsOf(intruder.id)).toEqual([]);
    // The owner's session is untouched: its own requests still run.
    const own = await stack.http.post(`/v1/sessions/${session}/requests`).set(bearer(owner)).send({ prompt: 'mine' });
    expect(own.status).toBe(202);
    expect((await waitForRun(stack, owner, own.body.runId)).status).toBe('succeeded');
  });

  test('admission itself refuses a session of another account, under the session lock', async () => {
    const owner = await createAccount(stack, 10_000);
    const intruder = await createAccount(stack, 10_000);
    const session = await openSession(owner);
    const runId = newId('run');
    const admission = await admitInDatabase(stack.db, admissionRequest(runId, intruder.id, { sessionId: session }));
    expect(admission).toMatchObject({ outcome: 'refused', reason: 'session-not-found' });
    expect(await runsOf(intruder.id)).toEqual([]);
  });

  test("a deleted request no longer feeds the session's context", async () => {
    const account = await createAccount(stack, 100_000);
    const session = await openSession(account, { contextTokens: 1000 });
    const ask = async (prompt: string) => {
      const res = await stack.http.post(`/v1/sessions/${session}/requests`).set(bearer(account)).send({ prompt });
      expect(res.status).toBe(202);
      return waitForRun(stack, account, res.body.runId);
    };
    fake.when('the secret is 42', { kind: 'stream', tokens: ['noted'] });
    const first = await ask('the secret is 42');
    expect((await stack.http.delete(`/v1/runs/${first.id}`).set(bearer(account))).status).toBe(204);
    fake.when('what was the secret?', { kind: 'stream', tokens: ['no idea'] });
    await ask('what was the secret?');
    const sent = fake.requests.find((r) => r.body.messages.at(-1)?.content === 'what was the secret?');
    expect(sent?.body.messages.map((m) => m.content)).toEqual(['what was the secret?']);
  });
});

describe('what executes is what was admitted', () => {
  test('a raced Idempotency-Key admits one body, the one that executes and is billed', async () => {
    const account = await createAccount(stack, 100_000);
    const key = `race-${Date.now()}`;
    const bodies = [
      { prompt: 'expensive body', model: 'openai/chat', maxTokens: 20 },
      { prompt: 'cheap body', model: 'demo/echo', maxTokens: 5 },
    ];
    // Both are admitted under the same run id at once: one wins, the other is a conflict.
    const results = await Promise.all(bodies.map((body) => startRun(stack, account, body, { 'idempotency-key': key })));
    expect(results.map((r) => r.status).sort()).toEqual([202, 409]);
    const winner = results.findIndex((r) => r.status === 202);
    expect(results[1 - winner]?.body).toMatchObject({ type: `${PROBLEM}idempotency-key-reused` });
    const run = await waitForRun(stack, account, derivedId('run', account.id, key));
    expect(run).toMatchObject({ status: 'succeeded', model: bodies[winner]?.model });
    expect(fake.requests.some((r) => r.body.messages.some((m) => m.content === bodies[1 - winner]?.prompt))).toBe(false);
    await expectLedgerConsistent(stack, account);
  });
});

describe('no step retries forever', () => {
  test('a failed setup that leaves a tree deeper than PATH_MAX is still removed, and the run settles', async () => {
    const account = await createAccount(stack, 10_000);
    // Node's recursive rm gives up on it with ENAMETOOLONG; the removal falls back to coreutils,
    // which walk by descriptor. (What nothing can remove: test/storage-bounds.test.ts.)
    const deep = "d=$(printf 'd%.0s' $(seq 1 200)); for i in $(seq 1 25); do mkdir $d && cd $d; done; exit 3";
    const res = await startRun(stack, account, { prompt: 'x', maxTokens: 5, workspace: { repo: repo.path, setup: [deep] } });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run.status).toBe('failed');
    expect(run.cost).toMatchObject({ charged: 0, refunded: run.cost.estimate });
    const leftover = await stack.db.selectFrom('workspace_leftovers').selectAll().where('owner_id', '=', run.id).executeTakeFirst();
    expect(leftover).toBeUndefined();
    // Cleanup may end just after the run's terminal status.
    const cleaned = async () => stack.db.selectFrom('runs').select(['step', 'workspace_path']).where('id', '=', run.id).executeTakeFirstOrThrow();
    for (let i = 0; i < 100 && (await cleaned()).step !== 'done'; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await cleaned()).toEqual({ step: 'done', workspace_path: null });
    await expectLedgerConsistent(stack, account);
  });
});

describe('sessions are bounded', () => {
  test(`an account has at most ${MAX_OPEN_SESSIONS} open sessions (429), even when it asks all at once`, async () => {
    const account = await createAccount(stack, 10_000);
    const attempts = await Promise.all(Array.from({ length: MAX_OPEN_SESSIONS + 3 }, () => createSession(account)));
    const created = attempts.filter((r) => r.status === 201);
    const refused = attempts.filter((r) => r.status === 429);
    expect({ created: created.length, refused: refused.length }).toEqual({ created: MAX_OPEN_SESSIONS, refused: 3 });
    expect(refused[0]?.body).toMatchObject({ type: `${PROBLEM}too-many-open-sessions` });
    expect(refused[0]?.headers['content-type']).toMatch(/^application\/problem\+json/);
    // Closing one frees its slot once it is closed.
    const first = created[0]?.body.id as string;
    expect((await stack.http.delete(`/v1/sessions/${first}`).set(bearer(account))).status).toBe(202);
    await waitForSessionStatus(account, first, 'closed');
    expect((await createSession(account)).status).toBe(201);
  });

  test('closing a session cancels its workspace preparation and refunds its queued requests', async () => {
    const account = await createAccount(stack, 10_000);
    const session = await openSession(account, { workspace: { repo: repo.path, setup: ['sleep 600'] } });
    const queued = await stack.http.post(`/v1/sessions/${session}/requests`).set(bearer(account)).send({ prompt: 'waiting' });
    expect(queued.status).toBe(202);
    // The preparation is under way (its setup command runs) when the client closes the session.
    await waitForSessionEvent(session, (e) => e.type === 'progress' && e.data.step === 'setup');
    expect((await stack.http.delete(`/v1/sessions/${session}`).set(bearer(account))).status).toBe(202);
    await waitForSessionStatus(account, session, 'closed', 30_000);
    const run = await waitForRun(stack, account, queued.body.runId);
    expect(run).toMatchObject({ status: 'stopped', cost: { charged: 0, refunded: run.cost.estimate } });
    await expectLedgerConsistent(stack, account);
  });

  test('a request that never reached its session ends, refunded, once the session is closed', async () => {
    const account = await createAccount(stack, 10_000);
    const session = await openSession(account);
    // Admitted and started as the API does it, but the API "dies" before telling the session.
    const runId = newId('run');
    const { input } = await admitWithoutStart(
      stack,
      admissionRequest(runId, account.id, { model: 'openai/chat', prompt: 'orphan', maxTokens: 20, sessionId: session, requestId: requestIdOf(runId) }),
      60_000,
    );
    await stack.temporal.workflow.start(RUN_WORKFLOW_TYPE, { workflowId: runId, taskQueue: stack.config.temporal.taskQueue, args: [input] });
    await deleteRunStarts(stack.db, [runId]);
    expect((await stack.http.delete(`/v1/sessions/${session}`).set(bearer(account))).status).toBe(202);
    await waitForSessionStatus(account, session, 'closed');
    // The run's fallback announcement (after 10 s) finds no session and ends the request.
    const run = await waitForRun(stack, account, runId, undefined, 40_000);
    expect(run).toMatchObject({ status: 'stopped', error: { code: 'session_closed' }, cost: { charged: 0 } });
    expect((await getRun(stack, account, runId)).cost.refunded).toBe(run.cost.estimate);
    await expectLedgerConsistent(stack, account);
  });
});

async function waitForSessionEvent(sessionId: string, match: (e: { type: string; data: Record<string, unknown> }) => boolean) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const rows = await stack.db.selectFrom('run_events').select(['type', 'data']).where('run_id', '=', sessionId).execute();
    if (rows.some(match)) return;
    if (Date.now() > deadline) throw new Error(`no matching event on ${sessionId}: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
