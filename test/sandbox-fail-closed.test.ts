import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isTerminal } from '../workflows/run-vocabulary';
import { createAccount, expectLedgerConsistent, startRun, waitForRun, type TestAccount } from './helpers/api';
import { createFixtureRepo, runEvents, type FixtureRepo } from './helpers/git-repos';
import { startStack, type TestStack } from './helpers/stack';

/**
 * Audit item: without a working bubblewrap, RUNWAY_SANDBOX=auto used to run setup commands bare,
 * where reading /proc/<pid>/environ hands the worker's secrets to the tenant. Now tenant code is
 * refused unless the operator chose RUNWAY_SANDBOX=none, which still never passes secrets on.
 */
const WORKDIR = process.env.RUNWAY_TEST_WORKDIR as string;
const tmp = path.join(WORKDIR, `sandbox-fail-closed-${process.pid}`);
const reposRoot = path.join(tmp, 'repos');
const fakeBin = path.join(tmp, 'fake-bin');
const agentDir = path.join(tmp, 'agent');
const MARKER_SECRET = 'worker-marker-secret-6f1c2d9e';

const AGENTS = JSON.stringify({
  printenv: { command: '/bin/sh', args: [path.join(agentDir, 'printenv.sh')], network: false, readOnlyPaths: [agentDir] },
});
const baseEnv = () => ({
  RUNWAY_LOCAL_REPOS_ROOT: reposRoot,
  RUNWAY_WORKSPACES_DIR: path.join(tmp, 'workspaces'),
  RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
  RUNWAY_CLI_AGENTS: AGENTS,
  RUNWAY_SECRETS_MARKER: MARKER_SECRET,
});

let repo: FixtureRepo;
beforeAll(() => {
  repo = createFixtureRepo(reposRoot);
  // What Docker's default seccomp profile does to bwrap: it cannot create namespaces.
  mkdirSync(fakeBin, { recursive: true });
  writeFileSync(path.join(fakeBin, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n');
  chmodSync(path.join(fakeBin, 'bwrap'), 0o755);
  mkdirSync(agentDir, { recursive: true });
  chmodSync(agentDir, 0o755);
  writeFileSync(path.join(agentDir, 'printenv.sh'), 'env\ntr "\\0" "\\n" < /proc/self/environ\n');
  process.env.RUNWAY_SECRETS_MARKER = MARKER_SECRET; // in the worker's own environment too
});

const workspace = (setup: string[]) => ({ repo: repo.path, setup });
const done = (stack: TestStack, account: TestAccount, id: string) =>
  waitForRun(stack, account, id, (r) => isTerminal(r.status) && r.step === 'done');

describe('RUNWAY_SANDBOX=auto without a working bubblewrap', () => {
  let stack: TestStack;
  let account: TestAccount;
  const realPath = process.env.PATH;
  beforeAll(async () => {
    process.env.PATH = `${fakeBin}:${realPath}`;
    stack = await startStack({ env: baseEnv() });
    account = await createAccount(stack, 10_000);
  });
  afterAll(async () => {
    await stack?.stop();
    process.env.PATH = realPath;
  });

  test('setup commands are refused with workspace_sandbox_unavailable before cloning, and the run is refunded', async () => {
    const res = await startRun(stack, account, { prompt: 'x', workspace: workspace(['cat /proc/*/environ']) });
    expect(res.status).toBe(202);
    const run = await done(stack, account, res.body.id);
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('workspace_sandbox_unavailable');
    expect(run.error?.message).toContain('No permissions to create new namespace');
    expect(run.error?.message).toContain('RUNWAY_SANDBOX=none');
    expect(run.cost).toEqual({ estimate: run.cost.estimate, charged: 0, refunded: run.cost.estimate });
    expect((await runEvents(stack.db, run.id, 'progress')).map((e) => e.data.step)).toEqual(['disk_check']);
    expect(await runEvents(stack.db, run.id, 'log')).toEqual([]); // nothing ran
    await expectLedgerConsistent(stack, account);
  });

  test('a CLI agent is refused too, without a retry', async () => {
    const res = await startRun(stack, account, { prompt: 'x', model: 'cli/printenv', maxTokens: 50 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'cli_sandbox_unavailable', message: expect.stringContaining('bubblewrap does not work') });
    expect(run.output).toBe('');
    await expectLedgerConsistent(stack, account);
  });

  test('a workspace without setup commands runs no tenant code and still works', async () => {
    const res = await startRun(stack, account, { prompt: 'x', workspace: { repo: repo.path } });
    expect((await done(stack, account, res.body.id)).status).toBe('succeeded');
  });
});

describe('RUNWAY_SANDBOX=none (trusted single-tenant mode)', () => {
  let stack: TestStack;
  let account: TestAccount;
  beforeAll(async () => {
    stack = await startStack({ env: { ...baseEnv(), RUNWAY_SANDBOX: 'none' } });
    account = await createAccount(stack, 10_000);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const secrets = () => [stack.adminToken, stack.secretsKey.toString('base64'), stack.config.databaseUrl, MARKER_SECRET];

  test('setup commands run, and their environment holds none of the worker’s secrets', async () => {
    const res = await startRun(stack, account, {
      prompt: 'x',
      workspace: workspace(['env', "tr '\\0' '\\n' < /proc/self/environ", 'echo "vars=$RUNWAY_ADMIN_TOKEN$DATABASE_URL$RUNWAY_SECRETS_KEY$RUNWAY_SECRETS_MARKER"']),
    });
    const run = await done(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    const output = (await runEvents(stack.db, run.id, 'log')).map((e) => e.data.line).join('\n');
    expect(output).toContain('PATH=');
    expect(output).toMatch(/^vars=$/m);
    for (const secret of secrets()) expect(output).not.toContain(secret);
  });

  test('a CLI agent’s environment holds none of them either', async () => {
    const res = await startRun(stack, account, { prompt: 'x', model: 'cli/printenv', maxTokens: 500 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toContain('HOME=');
    expect(run.output).not.toContain(`HOME=${process.env.HOME}\n`); // a private HOME, not the operator's
    for (const secret of secrets()) expect(run.output).not.toContain(secret);
  });
});
