import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeWorkspace } from '../src/workspaces/layout';
import { prepareWorkspace } from '../src/workspaces/prepare';
import { Sandbox } from '../src/workspaces/sandbox';
import { statusQuery } from '../workflows/definitions';
import { isTerminal } from '../workflows/run-vocabulary';
import { bearer, createAccount, expectLedgerConsistent, getRun, startRun, waitForRun, type TestAccount } from './helpers/api';
import { createFixtureRepo, git, pidsWith, runEvents, type FixtureRepo } from './helpers/git-repos';
import { startStack, type TestStack } from './helpers/stack';

const WORKDIR = process.env.RUNWAY_TEST_WORKDIR as string;
const tmp = path.join(WORKDIR, `workspaces-${process.pid}`);
const reposRoot = path.join(tmp, 'repos');
const workspacesDir = path.join(tmp, 'workspaces');

let stack: TestStack;
let repo: FixtureRepo;
let account: TestAccount;

beforeAll(async () => {
  repo = createFixtureRepo(reposRoot);
  stack = await startStack({
    env: {
      RUNWAY_LOCAL_REPOS_ROOT: reposRoot,
      RUNWAY_WORKSPACES_DIR: workspacesDir,
      RUNWAY_KEEP_WORKSPACES: 'true',
      RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
    },
  });
  account = await createAccount(stack, 100_000);
});
afterAll(async () => {
  await stack?.stop();
});

const run = (workspace: Record<string, unknown>) => startRun(stack, account, { prompt: 'look around', model: 'demo/echo', maxTokens: 8, workspace });
/** Terminal and cleaned up: a succeeded run is settled before its workspace step ends. */
const waitDone = (id: string, timeoutMs?: number) =>
  waitForRun(stack, account, id, (r) => isTerminal(r.status) && r.step === 'done', timeoutMs);
const progressSteps = async (runId: string) => (await runEvents(stack.db, runId, 'progress')).map((e) => e.data.step);
/** A root worker hands a workspace its setup commands ran in to the sandbox uid: root's git must be told to trust it. */
const gitIn = (dir: string, ...args: string[]) => git(dir, '-c', 'safe.directory=*', ...args);

describe('workspace preparation', () => {
  test('clones a local repo, branches from ref, runs setup in order, reports each step, and keeps the workspace', async () => {
    const res = await run({
      repo: repo.path,
      ref: 'dev',
      branch: 'runway/fix-1',
      setup: ["sh -c 'echo hi > ready.txt'", 'cat ready.txt > copy.txt; pwd > where.txt; echo setup-says-hello'],
    });
    expect(res.status).toBe(202);
    const done = await waitDone(res.body.id);
    expect(done).toMatchObject({ status: 'succeeded', step: 'done', error: null });
    const dir = path.join(workspacesDir, res.body.id);
    expect(done.workspace).toMatchObject({ repo: repo.path, ref: 'dev', branch: 'runway/fix-1', path: dir });

    expect(await progressSteps(res.body.id)).toEqual(['disk_check', 'clone', 'branch', 'setup', 'setup', 'ready']);
    const progress = await runEvents(stack.db, res.body.id, 'progress');
    expect(progress[2]?.data.message).toMatch(/^on runway\/fix-1 @ [0-9a-f]{7}/);
    expect(progress.at(-1)?.data).toMatchObject({ step: 'ready', pct: 100 });
    const logs = await runEvents(stack.db, res.body.id, 'log');
    expect(logs.map((l) => l.data.line)).toContain('setup-says-hello');

    expect(readFileSync(path.join(dir, 'ready.txt'), 'utf8')).toBe('hi\n');
    expect(readFileSync(path.join(dir, 'copy.txt'), 'utf8')).toBe('hi\n'); // commands ran in order
    expect(readFileSync(path.join(dir, 'where.txt'), 'utf8').trim()).toBe(dir);
    expect(existsSync(path.join(dir, 'dev.txt'))).toBe(true);
    expect(gitIn(dir, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('runway/fix-1');
    expect(gitIn(dir, 'rev-parse', 'HEAD')).toBe(repo.commits.dev);
    expect(gitIn(dir, 'rev-parse', '--is-shallow-repository')).toBe('true');
    // The clone scratch space and the setup HOME are gone even though the checkout is kept.
    expect(existsSync(path.join(workspacesDir, '.partial', res.body.id))).toBe(false);
    expect(existsSync(path.join(workspacesDir, '.home', res.body.id))).toBe(false);

    // Deleting the run removes its kept workspace.
    expect((await stack.http.delete(`/v1/runs/${res.body.id}`).set(bearer(account))).status).toBe(204);
    expect(existsSync(dir)).toBe(false);
    const row = await stack.db.selectFrom('runs').select('workspace_path').where('id', '=', res.body.id).executeTakeFirstOrThrow();
    expect(row.workspace_path).toBeNull();
  });

  test('a retried preparation that finds its finished workspace reuses it instead of running setup again', async () => {
    const settings = stack.config.workspaces;
    const sandbox = new Sandbox(settings, workspacesDir, () => undefined);
    const spec = { repo: repo.path, setup: ['echo run >> runs.txt'] };
    const seen: string[] = [];
    const hooks = {
      signal: new AbortController().signal,
      progress: async (p: { step: string }) => void seen.push(p.step),
      tick: () => undefined,
      log: () => undefined,
    };
    const runId = `run_reuse${Date.now()}`;
    const first = await prepareWorkspace({ runId, attempt: 1, spec, root: workspacesDir, settings, sandbox }, hooks);
    const second = await prepareWorkspace({ runId, attempt: 2, spec, root: workspacesDir, settings, sandbox }, hooks);
    expect(first).toEqual({ path: path.join(workspacesDir, runId), reused: false });
    expect(second).toEqual({ path: first.path, reused: true });
    expect(readFileSync(path.join(first.path, 'runs.txt'), 'utf8')).toBe('run\n');
    expect(seen).toEqual(['disk_check', 'clone', 'branch', 'setup', 'ready', 'ready']);
    // A different request for the same folder is not "finished": it is prepared again.
    const third = await prepareWorkspace({ runId, attempt: 3, spec: { ...spec, branch: 'other' }, root: workspacesDir, settings, sandbox }, hooks);
    expect(third.reused).toBe(false);
    expect(readFileSync(path.join(first.path, 'runs.txt'), 'utf8')).toBe('run\n');
    await removeWorkspace(workspacesDir, runId);
  });

  test('checks out a remote branch by name, a commit by full or short id, and refuses an unknown ref', async () => {
    const byBranch = await run({ repo: repo.path, branch: 'dev' });
    const byFullId = await run({ repo: `file://${repo.path}`, ref: repo.commits.first });
    const byShortId = await run({ repo: repo.path, ref: repo.commits.main.slice(0, 10), branch: 'work' });
    const missing = await run({ repo: repo.path, ref: 'no-such-branch' });

    const branchRun = await waitDone(byBranch.body.id);
    expect(branchRun.status).toBe('succeeded');
    expect(git(branchRun.workspace?.path as string, 'rev-parse', 'HEAD')).toBe(repo.commits.dev);
    expect(git(branchRun.workspace?.path as string, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('dev');

    const fullRun = await waitDone(byFullId.body.id);
    expect(fullRun.status).toBe('succeeded');
    expect(git(fullRun.workspace?.path as string, 'rev-parse', 'HEAD')).toBe(repo.commits.first);
    expect(git(fullRun.workspace?.path as string, 'rev-parse', '--is-shallow-repository')).toBe('true');

    const shortRun = await waitDone(byShortId.body.id);
    expect(shortRun.status).toBe('succeeded');
    expect(git(shortRun.workspace?.path as string, 'rev-parse', 'HEAD')).toBe(repo.commits.main);
    expect(git(shortRun.workspace?.path as string, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('work');

    const missingRun = await waitDone(missing.body.id);
    expect(missingRun.status).toBe('failed');
    expect(missingRun.error?.code).toBe('workspace_clone_failed');
    expect(missingRun.error?.message).toContain('no-such-branch');
    // Not retried: another attempt cannot find it either.
    expect(await progressSteps(missing.body.id)).toEqual(['disk_check', 'clone']);
    expect(existsSync(path.join(workspacesDir, missing.body.id))).toBe(false);
  });

  test('a failing setup command fails the run naming the step, shows the output tail, refunds in full and removes the workspace', async () => {
    const res = await run({
      repo: repo.path,
      setup: ['echo first command ok', 'echo some context; echo it went boom >&2; exit 3', 'echo never runs > never.txt'],
    });
    const failed = await waitDone(res.body.id);
    expect(failed.status).toBe('failed');
    expect(failed.step).toBe('done');
    expect(failed.error?.code).toBe('workspace_setup_failed');
    expect(failed.error?.message).toContain('command 2/3');
    expect(failed.error?.message).toContain('exited with code 3');
    expect(failed.error?.message).toContain('some context');
    expect(failed.error?.message).toContain('it went boom');
    expect(failed.cost).toEqual({ estimate: failed.cost.estimate, charged: 0, refunded: failed.cost.estimate });
    expect(failed.workspace?.path).toBeNull();
    expect(existsSync(path.join(workspacesDir, res.body.id))).toBe(false);
    expect(await progressSteps(res.body.id)).toEqual(['disk_check', 'clone', 'branch', 'setup', 'setup']);
    await expectLedgerConsistent(stack, account);
  });

  test('a stop during a long setup command kills its whole process tree within 2 s; the run ends stopped and cleaned', async () => {
    const marker = String(Math.floor(100_000 + Math.random() * 800_000));
    const res = await run({
      repo: repo.path,
      // A background child, a grandchild in a subshell and the foreground command.
      setup: [`sleep 1${marker} & (sleep 2${marker} &) ; sleep 3${marker}`],
    });
    const deadline = Date.now() + 20_000;
    const started = () => [1, 2, 3].every((n) => pidsWith(`sleep ${n}${marker}`).length > 0);
    while (!started()) {
      if (Date.now() > deadline) throw new Error('the setup command never started');
      await sleep(50);
    }
    const shown = await getRun(stack, account, res.body.id);
    expect(shown.progress).toMatchObject({ step: 'setup', message: expect.stringContaining('running 1/1') });
    const state = await stack.temporal.workflow.getHandle(res.body.id).query(statusQuery);
    expect(state).toMatchObject({ status: 'preparing', step: 'prepare', progress: { step: 'setup' } });

    const stopped = await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    expect(stopped.status).toBe(202);
    const t0 = Date.now();
    while (pidsWith(marker).length > 0) {
      if (Date.now() - t0 > 2000) throw new Error(`setup processes still alive 2 s after the stop: ${pidsWith(marker).join(', ')}`);
      await sleep(25);
    }
    const ended = await waitDone(res.body.id);
    expect(ended).toMatchObject({ status: 'stopped', step: 'done', error: { code: 'stopped' } });
    expect(ended.workspace?.path).toBeNull();
    expect(existsSync(path.join(workspacesDir, res.body.id))).toBe(false);
    expect(existsSync(path.join(workspacesDir, '.home', res.body.id))).toBe(false);
    await expectLedgerConsistent(stack, account);
  });
});

describe('hostile workspace input', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['ext:: remote helper', { repo: 'ext::sh -c touch% /tmp/runway-pwned' }, 'workspace.repo'],
    ['option-like repo', { repo: '--upload-pack=touch /tmp/runway-pwned' }, 'workspace.repo'],
    ['file:// outside the root', { repo: 'file:///etc' }, 'workspace.repo'],
    ['path outside the root', { repo: '/etc' }, 'workspace.repo'],
    ['.. out of the root', { repo: `${reposRoot}/../outside.git` }, 'workspace.repo'],
    ['relative path', { repo: 'app.git' }, 'workspace.repo'],
    ['plain http', { repo: 'http://github.com/a/b.git' }, 'workspace.repo'],
    ['host off the allow-list', { repo: 'https://evil.example.com/a/b.git' }, 'workspace.repo'],
    ['credentials in the URL', { repo: 'https://user:token@github.com/a/b.git' }, 'workspace.repo'],
    ['scp-like ssh', { repo: 'git@github.com:a/b.git' }, 'workspace.repo'],
    ['branch ../../x', { repo: '/x', branch: '../../x' }, 'workspace.branch'],
    ['branch -f', { repo: '/x', branch: '-f' }, 'workspace.branch'],
    ['option-like ref', { repo: '/x', ref: '--upload-pack=touch /tmp/runway-pwned' }, 'workspace.ref'],
    ['reflog syntax in ref', { repo: '/x', ref: '@{-1}' }, 'workspace.ref'],
    ['space in branch', { repo: '/x', branch: 'a b' }, 'workspace.branch'],
  ];

  test.each(cases)('%s is refused with 400 invalid-workspace before anything is reserved', async (_name, workspace, field) => {
    const body = { ...workspace, repo: workspace.repo === '/x' ? path.join(reposRoot, 'app.git') : workspace.repo };
    const before = await stack.http.get('/v1/account').set(bearer(account));
    const res = await run(body);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.type).toBe('https://runway.dev/problems/invalid-workspace');
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(field);
    const after = await stack.http.get('/v1/account').set(bearer(account));
    expect(after.body).toEqual(before.body);
    expect(existsSync('/tmp/runway-pwned')).toBe(false);
  });

  test('a symlink under the root that points outside it is refused by the worker', async () => {
    const outside = createFixtureRepo(path.join(tmp, 'outside'), 'secret.git');
    symlinkSync(outside.path, path.join(reposRoot, 'link.git'));
    const res = await run({ repo: path.join(reposRoot, 'link.git') });
    expect(res.status).toBe(202); // lexically inside the root: only the worker can tell
    const failed = await waitDone(res.body.id);
    expect(failed.error).toEqual({ code: 'workspace_invalid', message: expect.stringContaining('outside the allowed root') });
    expect(await progressSteps(res.body.id)).toEqual(['disk_check']);
    expect(existsSync(path.join(workspacesDir, res.body.id))).toBe(false);
  });

  test('setup commands see a scrubbed environment and, under bubblewrap, no host files, processes or network', async () => {
    const sandbox = await new Sandbox(stack.config.workspaces, workspacesDir, () => undefined).detect();
    if (sandbox.kind !== 'bwrap' && process.env.RUNWAY_TEST_ALLOW_NO_SANDBOX !== '1') {
      throw new Error(`bubblewrap does not work on this machine (${sandbox.reason}); install the "bubblewrap" package`);
    }
    const dbPort = new URL(stack.config.databaseUrl).port || '5432';
    writeFileSync(path.join(workspacesDir, 'another-runs-file'), 'private');
    const probe = `const s=require('net').connect(${dbPort},'127.0.0.1');s.on('connect',()=>{console.log('CONNECTED');process.exit(0)});s.on('error',e=>{console.log('refused '+e.code);process.exit(0)})`;
    const res = await run({
      repo: repo.path,
      setup: [
        'env > env.txt',
        "tr '\\0' '\\n' < /proc/self/environ > self-environ.txt",
        "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' > all-environ.txt; true",
        'echo "token=$RUNWAY_ADMIN_TOKEN db=$DATABASE_URL key=$RUNWAY_SECRETS_KEY" > vars.txt',
        `ls /work /root ${JSON.stringify(workspacesDir)} ${JSON.stringify(reposRoot)} > fs.txt 2>&1; true`,
        `node -e ${JSON.stringify(probe)} > net.txt 2>&1; true`,
        // Only where it is contained: without bubblewrap a root worker would really write it.
        ...(sandbox.kind === 'bwrap' ? ['{ echo tampered > /usr/runway-tamper; } 2> usr.txt; true'] : []),
      ],
    });
    const done = await waitDone(res.body.id);
    expect(done.status).toBe('succeeded');
    const dir = done.workspace?.path as string;
    const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
    const secrets = [stack.adminToken, stack.config.databaseUrl, stack.secretsKey.toString('base64')];
    for (const file of ['env.txt', 'self-environ.txt', 'vars.txt']) {
      for (const secret of secrets) expect(read(file)).not.toContain(secret);
    }
    const names = read('env.txt').split('\n').filter(Boolean).map((l) => l.split('=')[0] ?? '');
    expect(names).toEqual(expect.arrayContaining(['PATH', 'HOME', 'LANG']));
    // Besides those, only what sh sets itself.
    expect(names.filter((n) => !['PATH', 'HOME', 'LANG', 'PWD', 'SHLVL', '_', 'OLDPWD'].includes(n))).toEqual([]);
    expect(read('vars.txt').trim()).toBe('token= db= key=');
    if (sandbox.kind === 'bwrap') {
      for (const secret of secrets) expect(read('all-environ.txt')).not.toContain(secret);
      expect(read('fs.txt')).toMatch(/\/work.*No such file/);
      expect(read('fs.txt')).not.toContain('app.git'); // neither the repos root…
      expect(read('fs.txt')).not.toContain('another-runs-file'); // …nor the rest of the workspaces folder
      expect(read('net.txt')).not.toContain('CONNECTED');
      expect(read('usr.txt')).toMatch(/Read-only|Permission denied/);
    }
    expect(existsSync('/usr/runway-tamper')).toBe(false);
  });
});

describe('limits', () => {
  let limited: TestStack;
  let owner: TestAccount;
  beforeAll(async () => {
    limited = await startStack({
      env: {
        RUNWAY_LOCAL_REPOS_ROOT: reposRoot,
        RUNWAY_WORKSPACES_DIR: workspacesDir,
        RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
        RUNWAY_SETUP_TIMEOUT_MS: '700',
        RUNWAY_SETUP_MAX_OUTPUT_BYTES: '4096',
        RUNWAY_SETUP_MAX_PROCESSES: '32',
      },
    });
    owner = await createAccount(limited, 10_000);
  });
  afterAll(async () => {
    await limited?.stop();
  });

  test('a setup command over its time or output limit is killed and fails the run', async () => {
    const slow = await startRun(limited, owner, { prompt: 'x', workspace: { repo: repo.path, setup: ['echo waiting; sleep 30'] } });
    const noisy = await startRun(limited, owner, { prompt: 'x', workspace: { repo: repo.path, setup: ['yes runway'] } });
    const slowRun = await waitForRun(limited, owner, slow.body.id, (r) => r.step === 'done' && r.status === 'failed');
    expect(slowRun.error?.code).toBe('workspace_setup_failed');
    expect(slowRun.error?.message).toMatch(/timed out after 700 ms; output:\nwaiting/);
    const noisyRun = await waitForRun(limited, owner, noisy.body.id, (r) => r.step === 'done' && r.status === 'failed');
    expect(noisyRun.error?.code).toBe('workspace_setup_failed');
    expect(noisyRun.error?.message).toContain('wrote more than 4096 bytes of output');
    expect(noisyRun.error?.message.length).toBeLessThan(3000);
    // Output lines are events too, but only up to the per-attempt cap.
    expect((await runEvents(limited.db, noisy.body.id, 'log')).length).toBeLessThanOrEqual(1000);
    await expectLedgerConsistent(limited, owner);
  });

  test('a setup command forking past RUNWAY_SETUP_MAX_PROCESSES fails cleanly and leaves nothing running', async () => {
    const marker = String(Math.floor(100_000 + Math.random() * 800_000));
    // Bounded: 100 sleepers at most, against a limit of 32.
    const bomb = `i=0; while [ $i -lt 100 ]; do sleep 5.${marker} & i=$((i+1)); done; wait`;
    const res = await startRun(limited, owner, { prompt: 'x', workspace: { repo: repo.path, setup: [bomb] } });
    const run = await waitForRun(limited, owner, res.body.id, (r) => r.step === 'done' && r.status === 'failed');
    expect(run.error?.code).toBe('workspace_setup_failed');
    expect(run.error?.message).toMatch(/Cannot fork/);
    expect(run.error?.message).not.toContain('timed out');
    expect(pidsWith(`sleep 5.${marker}`)).toEqual([]);
    await expectLedgerConsistent(limited, owner);
  });
});

describe('disk space', () => {
  let small: TestStack;
  beforeAll(async () => {
    mkdirSync(reposRoot, { recursive: true });
    small = await startStack({
      env: { RUNWAY_LOCAL_REPOS_ROOT: reposRoot, RUNWAY_WORKSPACES_DIR: workspacesDir, RUNWAY_WORKSPACE_MIN_FREE_MB: '999999999' },
    });
  });
  afterAll(async () => {
    await small?.stop();
  });

  test('below the minimum free space the run fails clearly before cloning', async () => {
    const owner = await createAccount(small, 10_000);
    const res = await startRun(small, owner, { prompt: 'x', model: 'demo/echo', workspace: { repo: repo.path, setup: ['touch x'] } });
    const failed = await waitForRun(small, owner, res.body.id);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('workspace_disk_full');
    expect(failed.error?.message).toMatch(/disk_check: only \d+ MiB free .* at least 999999999 MiB/);
    expect((await runEvents(small.db, res.body.id, 'progress')).map((e) => e.data.step)).toEqual(['disk_check']);
    expect(existsSync(path.join(workspacesDir, res.body.id))).toBe(false);
    await expectLedgerConsistent(small, owner);
  });
});
