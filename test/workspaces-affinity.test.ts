import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RunView } from '../src/api/schemas';
import { createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { createFixtureRepo } from './helpers/git-repos';
import { spawnWorker, stackEnv, waitForActivityPoller, type PlatformProcess } from './helpers/processes';
import { startStack, type TestStack } from './helpers/stack';

/**
 * Two worker "hosts", each with a workspaces folder the other cannot see. A run's workspace is
 * prepared on one of them, so its model step must run there too (the worker-specific task queue
 * pattern); on the other host the workspace does not exist and the agent would fail.
 *
 * Which host prepares a run is not left to the task queue: a batch of runs is started while only
 * one host polls, and is held in its setup command (a gate file the test creates) until the
 * other host polls too. So each batch is prepared on a known host, and its model steps are
 * scheduled while both hosts compete for the shared queue: a step sent there instead of to the
 * workspace's host would land on the wrong host for about half of the runs and fail them.
 */
const tmp = path.join(process.env.RUNWAY_TEST_WORKDIR as string, `affinity-${process.pid}`);
const AGENTS = { ls: { command: '/bin/sh', args: ['-c', 'ls; echo; cat app.txt'], prompt: 'arg' } };
const PER_BATCH = 4;
type Host = 'host-a' | 'host-b';

let stack: TestStack;
const workers = new Map<Host, PlatformProcess>();
const spawned: PlatformProcess[] = [];
let repo: string;
let workerEnv: Record<string, string>;

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
    // The setup command waits for a gate file outside the workspace, which bubblewrap would hide.
    RUNWAY_SANDBOX: 'none',
  };
  stack = await startStack({ worker: false, env });
  workerEnv = { ...stackEnv(stack), ...env };
}, 120_000);
afterAll(async () => {
  for (const w of spawned) await w.kill('SIGKILL');
  await stack?.stop();
});

/** Starts `host`'s worker and returns once it polls the shared queue. */
async function startHost(host: Host): Promise<void> {
  const worker = await spawnWorker({ ...workerEnv, RUNWAY_WORKER_HOST_ID: host, RUNWAY_WORKSPACES_DIR: path.join(tmp, host, 'workspaces') });
  spawned.push(worker);
  workers.set(host, worker);
  await waitForActivityPoller(stack.temporal, worker, stack.config.temporal.taskQueue);
}

async function stopHost(host: Host): Promise<void> {
  await workers.get(host)?.kill('SIGTERM'); // resolves once the process has exited: it polls no more
  workers.delete(host);
}

/** Starts a batch of runs whose setup waits for `gate`, and returns once each is in that setup. */
async function startHeldBatch(account: TestAccount, gate: string): Promise<string[]> {
  const started = await Promise.all(
    Array.from({ length: PER_BATCH }, () =>
      startRun(stack, account, {
        prompt: 'list',
        model: 'cli/ls',
        maxTokens: 50,
        workspace: { repo, ref: 'main', setup: [`while [ ! -e '${gate}' ]; do sleep 0.05; done`] },
      }),
    ),
  );
  for (const res of started) expect(res.status).toBe(202);
  const ids = started.map((r) => r.body.id as string);
  // In its setup step, the run's preparation runs on a worker that polled the shared queue.
  await Promise.all(ids.map((id) => waitForRun(stack, account, id, (r) => r.progress?.step === 'setup', 60_000)));
  return ids;
}

const finished = (account: TestAccount, ids: string[]) =>
  Promise.all(ids.map((id) => waitForRun(stack, account, id, (r) => r.step === 'done', 60_000)));

const hostOf = (run: RunView) => run.workspace?.path?.split(path.sep).find((part) => part.startsWith('host-'));

test('the steps after preparation run on the host that holds the workspace', async () => {
  const account = await createAccount(stack, 100_000, { maxActiveRuns: 20 });
  const gateA = path.join(tmp, 'gate-a');
  const gateB = path.join(tmp, 'gate-b');

  // Batch A: prepared by host-a, the only worker; its model steps are scheduled once host-b polls too.
  await startHost('host-a');
  const batchA = await startHeldBatch(account, gateA);
  await startHost('host-b');
  writeFileSync(gateA, '');
  const runsA = await finished(account, batchA);

  // Batch B: prepared by host-b while host-a is stopped; its model steps are scheduled once a
  // restarted host-a polls again.
  await stopHost('host-a');
  const batchB = await startHeldBatch(account, gateB);
  await startHost('host-a');
  writeFileSync(gateB, '');
  const runsB = await finished(account, batchB);

  for (const run of [...runsA, ...runsB]) {
    expect({ status: run.status, error: run.error }).toEqual({ status: 'succeeded', error: null });
    expect(run.output).toContain('README.md');
    expect(run.output).toContain('app\n');
  }
  // Each run's workspace is where its batch was prepared, and its model step found it there.
  expect(runsA.map(hostOf)).toEqual(batchA.map(() => 'host-a'));
  expect(runsB.map(hostOf)).toEqual(batchB.map(() => 'host-b'));
}, 240_000);
