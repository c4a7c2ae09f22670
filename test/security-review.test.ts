import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getVisibleSession } from '../src/db/sessions';
import { SessionService } from '../src/sessions/session-service';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { createFixtureRepo, type FixtureRepo } from './helpers/git-repos';
import { startStack, type TestStack } from './helpers/stack';

/** Holes found by reviewing the audit's fixes: each is reproduced through the real processes. */
const WORKDIR = process.env.RUNWAY_TEST_WORKDIR as string;
const tmp = path.join(WORKDIR, `security-review-${process.pid}`);
const reposRoot = path.join(tmp, 'repos');
const AGENT_SECRET = 'agent-secret-value-0123456789';

/** Agents are node programs given with -e: node lives under /usr, which the sandbox shows. */
const node = (script: string) => ({ command: process.execPath, args: ['-e', script] });
const AGENTS = {
  // The stderr tail kept for the error message (2,000 units) starts inside an emoji.
  'split-tail': { ...node(`process.stderr.write('\\u{1F600}' + 'x'.repeat(1999) + '\\n', () => process.exit(3));`) },
  // One "word" of 100 kB: billed by size now, but the byte cap must hold whatever the token cap allows.
  flood: { ...node(`process.stdout.write('y'.repeat(100000) + '\\n');`), maxOutputBytes: 4096 },
  // Holds a secret of the operator's while it runs.
  secretive: { ...node(`console.log('tick'); setTimeout(() => {}, 60000);`), env: { AGENT_TOKEN: AGENT_SECRET } },
};

let stack: TestStack;
let repo: FixtureRepo;
let account: TestAccount;
beforeAll(async () => {
  repo = createFixtureRepo(reposRoot);
  stack = await startStack({
    env: {
      RUNWAY_CLI_AGENTS: JSON.stringify(AGENTS),
      RUNWAY_LOCAL_REPOS_ROOT: reposRoot,
      RUNWAY_WORKSPACES_DIR: path.join(tmp, 'workspaces'),
      RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
    },
  });
  account = await createAccount(stack, 1_000_000);
});
afterAll(async () => {
  await stack?.stop();
  execFileSync('rm', ['-rf', tmp]);
});

describe('tenant code cannot reach the worker through its own workspace', () => {
  test('a setup command that plants a symlink where the ready marker used to be never makes the worker write through it', async () => {
    const victim = path.join(tmp, 'victim.txt');
    mkdirSync(tmp, { recursive: true });
    writeFileSync(victim, 'original');
    const res = await startRun(stack, account, {
      prompt: 'x',
      maxTokens: 5,
      workspace: { repo: repo.path, setup: [`ln -sf ${victim} .git/runway-ready.json`] },
    });
    expect(res.status).toBe(202);
    expect((await waitForRun(stack, account, res.body.id, undefined, 60_000)).status).toBe('succeeded');
    expect(readFileSync(victim, 'utf8')).toBe('original');
  });

  test("/dev/shm is bounded like /tmp: a setup command cannot fill the host's memory through it", async () => {
    const res = await startRun(stack, account, {
      prompt: 'x',
      maxTokens: 5,
      workspace: { repo: repo.path, setup: ['head -c 300000000 /dev/zero > /dev/shm/big'] },
    });
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run).toMatchObject({ status: 'failed', error: { code: 'workspace_setup_failed' } });
  });
});

describe('CLI agents', () => {
  test('half an emoji at the cut of an error message fails the run cleanly, and the worker keeps serving', async () => {
    const res = await startRun(stack, account, { prompt: 'x', model: 'cli/split-tail', maxTokens: 50 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run).toMatchObject({ status: 'failed', error: { code: 'cli_exit' } });
    expect(run.error?.message).toMatch(/x{100}$/);
    // The worker is still serving.
    const next = await startRun(stack, account, { prompt: 'still here', maxTokens: 5 });
    expect((await waitForRun(stack, account, next.body.id)).status).toBe('succeeded');
  });

  test('an agent that writes more bytes than its cap is killed and the run fails, whatever its word count', async () => {
    // A token cap far above the byte cap (10,000 tokens are 40 kB): the byte cap is what stops it.
    const res = await startRun(stack, account, { prompt: 'x', model: 'cli/flood', maxTokens: 10_000 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run).toMatchObject({ status: 'failed', error: { code: 'cli_output_limit' } });
    expect(run.output.length).toBeLessThan(100_000);
  });

  test("an agent's secrets never appear on a command line the host's users can read", async () => {
    const res = await startRun(stack, account, { prompt: 'x', model: 'cli/secretive', maxTokens: 50, secrets: { apiKey: 'sk-run-key-abcdefghijklmnop' } });
    await waitForRun(stack, account, res.body.id, (r) => r.output.includes('tick'));
    const cmdlines = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          return '';
        }
      });
    expect(cmdlines.some((c) => c.includes('tick'))).toBe(true); // the agent's own script is there
    expect(cmdlines.filter((c) => c.includes(AGENT_SECRET) || c.includes('sk-run-key-abcdefghijklmnop'))).toEqual([]);
    await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    expect((await waitForRun(stack, account, res.body.id)).status).toBe('stopped');
  });
});

describe('runs posted into a session', () => {
  test('are refused with a workspace of their own (the session has one), and pay for the session context', async () => {
    const session = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'demo/echo', maxTokens: 20, contextTokens: 2000 });
    expect(session.status).toBe(201);
    const withWorkspace = await startRun(stack, account, { prompt: 'p', maxTokens: 20, sessionId: session.body.id, workspace: { repo: repo.path } });
    expect(withWorkspace.status).toBe(400);
    expect(withWorkspace.body).toMatchObject({ type: 'https://runway.dev/problems/invalid-workspace' });
    const viaRuns = await startRun(stack, account, { prompt: 'same prompt', maxTokens: 20, sessionId: session.body.id });
    const viaSession = await stack.http.post(`/v1/sessions/${session.body.id}/requests`).set(bearer(account)).send({ prompt: 'same prompt', maxTokens: 20 });
    expect(viaRuns.status).toBe(202);
    expect(viaRuns.body.estimate).toBe(viaSession.body.estimate);
    await waitForRun(stack, account, viaRuns.body.id, undefined, 40_000);
    await waitForRun(stack, account, viaSession.body.runId, undefined, 40_000);
  });
});

describe('sessions', () => {
  test('a close that races the session ending never turns a closed session back into a closing one', async () => {
    const created = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'demo/echo' });
    const id = created.body.id as string;
    const stale = (await getVisibleSession(stack.db, { accountId: account.id }, id))!; // read while still open
    expect((await stack.http.delete(`/v1/sessions/${id}`).set(bearer(account))).status).toBe(202);
    for (let i = 0; i < 200 && (await getVisibleSession(stack.db, { accountId: account.id }, id))?.status !== 'closed'; i++) await sleep(50);
    const sessions = new SessionService({
      db: stack.db,
      temporal: stack.temporal,
      starter: undefined as never,
      taskQueue: stack.config.temporal.taskQueue,
      maxOpenSessions: 100,
      maxOpenSessionsPerUser: 10,
      idleTimeoutMs: 86_400_000,
      maxActiveRuns: 10,
      maxActiveRunsPerUser: null,
    });
    await sessions.close(stale);
    expect((await getVisibleSession(stack.db, { accountId: account.id }, id))?.status).toBe('closed');
  });
});
