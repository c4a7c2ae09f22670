import path from 'node:path';
import { createAccount, startRun, waitForRun } from './helpers/api';
import { createFixtureRepo } from './helpers/git-repos';
import { spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { startStack, type TestStack } from './helpers/stack';

/**
 * Two worker "hosts", each with a workspaces folder the other cannot see. A run's workspace is
 * prepared on one of them, so its model step must run there too (the worker-specific task queue
 * pattern); on the other host the workspace does not exist and the agent would fail.
 */
const tmp = path.join(process.env.RUNWAY_TEST_WORKDIR as string, `affinity-${process.pid}`);
const AGENTS = { ls: { command: '/bin/sh', args: ['-c', 'ls; echo; cat app.txt'], prompt: 'arg' } };

let stack: TestStack;
const workers: PlatformProcess[] = [];
let repo: string;

beforeAll(async () => {
  const reposRoot = path.join(tmp, 'repos');
  repo = createFixtureRepo(reposRoot).path;
  const env = {
    RUNWAY_LOCAL_REPOS_ROOT: reposRoot,
    RUNWAY_CLI_AGENTS: JSON.stringify(AGENTS),
    RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
    RUNWAY_KEEP_WORKSPACES: 'true', // the kept path tells which host prepared each run
    // Eager dispatch tends to keep a run's activities on one worker anyway; without it, only the
    // workflow's routing keeps the model step on the workspace's host.
    RUNWAY_WORKER_EAGER_ACTIVITIES: '0',
  };
  stack = await startStack({ worker: false, env });
  for (const host of ['host-a', 'host-b']) {
    workers.push(
      await spawnWorker({
        ...stackEnv(stack),
        ...env,
        RUNWAY_WORKER_HOST_ID: host,
        RUNWAY_WORKSPACES_DIR: path.join(tmp, host, 'workspaces'),
      }),
    );
  }
}, 120_000);
afterAll(async () => {
  for (const w of workers) await w.kill('SIGKILL');
  await stack?.stop();
});

test('the steps after preparation run on the host that holds the workspace', async () => {
  const account = await createAccount(stack, 100_000, { maxActiveRuns: 20 });
  const started = await Promise.all(
    Array.from({ length: 8 }, () => startRun(stack, account, { prompt: 'list', model: 'cli/ls', maxTokens: 50, workspace: { repo, ref: 'main' } })),
  );
  const runs = await Promise.all(started.map((r) => waitForRun(stack, account, r.body.id, undefined, 60_000)));
  for (const run of runs) {
    expect({ status: run.status, error: run.error }).toEqual({ status: 'succeeded', error: null });
    expect(run.output).toContain('README.md');
    expect(run.output).toContain('app\n');
  }
  // Both hosts took part, so a run that moved between them would have been caught.
  const hostsUsed = new Set(runs.map((r) => r.workspace?.path?.split(path.sep).find((part) => part.startsWith('host-'))));
  expect(hostsUsed).toEqual(new Set(['host-a', 'host-b']));
}, 120_000);
