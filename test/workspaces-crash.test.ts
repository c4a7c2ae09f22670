import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTerminal } from '../workflows/run-vocabulary';
import { createAccount, expectLedgerConsistent, getRun, startRun, waitForRun } from './helpers/api';
import { createBigRepo, git, pidsWith, runEvents } from './helpers/git-repos';
import { spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { startStack, type TestStack } from './helpers/stack';

const tmp = path.join(process.env.RUNWAY_TEST_WORKDIR as string, `workspaces-crash-${process.pid}`);
const reposRoot = path.join(tmp, 'repos');
const workspacesDir = path.join(tmp, 'workspaces');

let stack: TestStack;
let bigRepo: string;
const workerEnv: Record<string, string> = {};
const workers: PlatformProcess[] = [];

beforeAll(async () => {
  bigRepo = createBigRepo(reposRoot, 64);
  // Workspaces are not kept here (the default): a succeeded run's folder goes too.
  const env = { RUNWAY_LOCAL_REPOS_ROOT: reposRoot, RUNWAY_WORKSPACES_DIR: workspacesDir, RUNWAY_WORKSPACE_MIN_FREE_MB: '1' };
  stack = await startStack({ worker: false, env });
  Object.assign(workerEnv, stackEnv(stack), env);
});
afterAll(async () => {
  for (const w of workers) await w.kill('SIGKILL');
  await stack?.stop();
});

async function newWorker(): Promise<PlatformProcess> {
  const w = await spawnWorker(workerEnv);
  workers.push(w);
  return w;
}

async function waitForProcess(marker: string, worker: PlatformProcess, timeoutMs = 30_000, where: 'anywhere' | 'start' = 'anywhere'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pidsWith(marker, where).length === 0) {
    if (Date.now() > deadline) throw new Error(`no process with "${marker}" appeared:\n${worker.output()}`);
    await sleep(10);
  }
}

/** Adds an empty file `name` to the bare repository's main, as a new commit. */
function addFileToMain(bare: string, name: string): void {
  const head = git(bare, 'rev-parse', 'main');
  const entries = git(bare, 'ls-tree', 'main');
  const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: bare, input: '', encoding: 'utf8' }).trim();
  const tree = execFileSync('git', ['mktree'], { cwd: bare, input: `${entries}\n100644 blob ${blob}\t${name}\n`, encoding: 'utf8' }).trim();
  git(bare, 'update-ref', 'refs/heads/main', git(bare, 'commit-tree', '-p', head, '-m', `add ${name}`, tree));
}

/** The worker's children must not outlive it: they would write into the workspace being redone. */
async function expectGoneWithin(marker: string, ms: number): Promise<void> {
  const since = Date.now();
  while (pidsWith(marker).length > 0 && Date.now() - since < ms) await sleep(25);
  const left = pidsWith(marker).map((pid) => {
    try {
      return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`;
    } catch {
      return `${pid}: gone`;
    }
  });
  expect(left).toEqual([]);
}

test('workers killed mid-clone and mid-setup leave no broken workspace: the next one redoes it and the run completes', async () => {
  const account = await createAccount(stack, 10_000);
  const marker = String(Math.floor(100_000 + Math.random() * 800_000));
  const first = await newWorker();
  const res = await startRun(stack, account, {
    prompt: 'after the crashes',
    model: 'demo/echo',
    workspace: {
      repo: bigRepo,
      branch: 'runway/crash',
      // Fails if it runs on top of an earlier attempt's leftovers or a partial clone. Then it
      // sleeps until killed, unless the clone has the file `go` (added to the repository before
      // the last worker starts): the kill always lands mid-setup, and the last attempt is quick.
      setup: [`test ! -e attempts.txt && test -s big.bin && echo attempt > attempts.txt && { test -e go || sleep 600.${marker}; }`],
    },
  });
  expect(res.status).toBe(202);
  const runId: string = res.body.id;
  const partials = path.join(workspacesDir, '.partial', runId);

  // 1. Killed while git is cloning 64 MiB: its git must die with it, no checkout appears.
  await waitForProcess(partials, first);
  // git itself is running (not just a wrapper that names the folder): every wrapper is armed.
  const deadline = Date.now() + 30_000;
  const gitRunning = () =>
    pidsWith(partials).some((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('git');
      } catch {
        return false;
      }
    });
  while (!gitRunning() && Date.now() < deadline) await sleep(10);
  expect((await getRun(stack, account, runId)).progress).toMatchObject({ step: 'clone' });
  await first.kill('SIGKILL');
  await expectGoneWithin(partials, 2000);
  expect(existsSync(path.join(workspacesDir, runId))).toBe(false);

  // 2. Killed while the setup command runs: the sandbox goes with it.
  const second = await newWorker();
  // The sleep itself, not a wrapper whose arguments name it: by then every wrapper has armed its
  // parent-death signal (a kill in the microseconds before that is a race no wrapper can close).
  await waitForProcess(`sleep 600.${marker}`, second, 40_000, 'start');
  await second.kill('SIGKILL');
  // It would sleep for ten minutes; dying with the worker takes milliseconds (5 s: a loaded machine).
  await expectGoneWithin(marker, 5000);

  // 3. The third worker prepares from scratch (a clone that has `go`) and finishes the run.
  addFileToMain(bigRepo, 'go');
  await newWorker();
  const done = await waitForRun(stack, account, runId, (r) => isTerminal(r.status) && r.step === 'done', 45_000);
  expect(done).toMatchObject({ status: 'succeeded', step: 'done', output: 'after the crashes', error: null });
  const steps = (await runEvents(stack.db, runId, 'progress')).map((e) => e.data.step);
  expect(steps).toEqual([
    'disk_check', 'clone',
    'disk_check', 'clone', 'branch', 'setup',
    'disk_check', 'clone', 'branch', 'setup', 'ready',
  ]);
  // Not kept: removed after success, scratch space included, and the run says so.
  expect(done.workspace).toMatchObject({ branch: 'runway/crash', path: null });
  expect(existsSync(path.join(workspacesDir, runId))).toBe(false);
  expect(existsSync(partials)).toBe(false);
  await expectLedgerConsistent(stack, account);
});
