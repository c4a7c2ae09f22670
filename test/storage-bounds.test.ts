import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ScheduleNotFoundError } from '@temporalio/client';
import { sql } from 'kysely';
import { bearer, createAccount, getRun, startRun, waitForRun, type TestAccount } from './helpers/api';
import { createFixtureRepo, type FixtureRepo } from './helpers/git-repos';
import { SseConnection } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';
import { isTerminal } from '../workflows/run-vocabulary';
import { retentionScheduleId } from '../src/worker/retention-schedule';
import type { PurgedCounts } from '../src/db/retention';
import { registry } from '../src/metrics/metrics';

/**
 * Issue #26, items 7 and 8: stored logs are bounded per run and per account (one marker says how
 * much was dropped), retention purges until it has caught up, and a workspace tree Node's `rm`
 * cannot remove (deeper than PATH_MAX, folders without permissions) is removed all the same, so
 * that its run ends its cleanup and can be purged.
 */
const WORKDIR = process.env.RUNWAY_TEST_WORKDIR as string;
const tmp = path.join(WORKDIR, `storage-bounds-${process.pid}`);
const workspacesDir = path.join(tmp, 'workspaces');
const PER_RUN = 64 * 1024;
const PER_ACCOUNT = 100_000;
const LINE = 999; // characters of each log line the setup commands below print
/** The documented share of a line's row in its count (src/db/run-logs.ts); kept here so this file also runs on older code. */
const LOG_LINE_OVERHEAD = 100;

/** A CLI agent that writes 500 long lines to stderr (its log), then its answer. */
const agentDir = path.join(tmp, 'agents');
const AGENTS = { noisy: { command: '/bin/sh', args: [path.join(agentDir, 'noisy.sh')], readOnlyPaths: [agentDir] } };

let stack: TestStack;
let repo: FixtureRepo;

beforeAll(async () => {
  repo = createFixtureRepo(path.join(tmp, 'repos'));
  mkdirSync(agentDir, { recursive: true });
  writeFileSync(path.join(agentDir, 'noisy.sh'), `cat > /dev/null; i=0; while [ $i -lt 500 ]; do printf '%0${LINE}d\\n' $i >&2; i=$((i+1)); done; echo the answer\n`);
  stack = await startStack({
    env: {
      RUNWAY_CLI_AGENTS: JSON.stringify(AGENTS),
      RUNWAY_LOCAL_REPOS_ROOT: path.join(tmp, 'repos'),
      RUNWAY_WORKSPACES_DIR: workspacesDir,
      RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
      RUNWAY_MAX_LOG_BYTES_PER_RUN: String(PER_RUN),
      RUNWAY_MAX_LOG_BYTES_PER_ACCOUNT: String(PER_ACCOUNT),
      RUNWAY_RETENTION_DAYS: '30',
      RUNWAY_RETENTION_BATCH: '1', // every row its own batch: hundreds of batches in one purge
      RUNWAY_RETENTION_BUDGET_MS: '1000', // and more of them than one activity may take
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

/** A workspace run whose setup prints `lines` lines of LINE characters (500 KB for 500). */
const noisyRun = (account: TestAccount, lines: number) =>
  startRun(stack, account, {
    prompt: 'x',
    model: 'demo/echo',
    maxTokens: 8,
    workspace: { repo: repo.path, setup: [`i=0; while [ $i -lt ${lines} ]; do printf '%0${LINE}d\\n' $i; i=$((i+1)); done`] },
  });

const waitDone = (account: TestAccount, id: string, timeoutMs = 90_000) =>
  waitForRun(stack, account, id, (r) => isTerminal(r.status) && r.step === 'done', timeoutMs);

async function eventsOf(runId: string) {
  const rows = await stack.db.selectFrom('run_events').select(['id', 'type', 'data']).where('run_id', '=', runId).orderBy('id').execute();
  return rows.map((r) => ({ id: Number(r.id), type: r.type, data: r.data as Record<string, unknown> }));
}

/** Log bytes as the bounds count them: each line's bytes and its row's share. */
const storedLogBytes = (events: { type: string; data: Record<string, unknown> }[]) =>
  events.filter((e) => e.type === 'log' && !e.data.truncated).reduce((n, e) => n + Buffer.byteLength(String(e.data.line)) + LOG_LINE_OVERHEAD, 0);
const COUNTED = LINE + LOG_LINE_OVERHEAD;

/** What the account's unpurged runs store, as counted for its bound (by one of its runs' ids). */
async function accountLogBytes(runId: string): Promise<number> {
  const row = await sql<{ log_bytes: string }>`
    SELECT s.log_bytes FROM account_storage s WHERE s.account_id = (SELECT account_id FROM runs WHERE id = ${runId})`.execute(stack.db);
  return Number(row.rows[0]?.log_bytes ?? 0);
}

/** Triggers the retention schedule now (as its hourly tick would) and returns what its workflow purged. */
const purgeNow = async (): Promise<PurgedCounts> => (await purgeNowWithExecution()).purged;

async function purgeNowWithExecution(): Promise<{ purged: PurgedCounts; execution: { workflowId: string; runId: string } }> {
  const handle = stack.temporal.schedule.getHandle(retentionScheduleId(stack.config.temporal.taskQueue));
  for (const deadline = Date.now() + 30_000; ; await sleep(100)) {
    try {
      await handle.describe();
      break;
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError) || Date.now() > deadline) throw err;
    }
  }
  const before = (await handle.describe()).info.recentActions.length;
  await handle.trigger();
  for (const deadline = Date.now() + 30_000; ; await sleep(100)) {
    const actions = (await handle.describe()).info.recentActions;
    if (actions.length > before) {
      const { workflowId, firstExecutionRunId: runId } = actions.at(-1)!.action.workflow;
      return { purged: await stack.temporal.workflow.getHandle(workflowId, runId).result(), execution: { workflowId, runId } };
    }
    if (Date.now() > deadline) throw new Error('the schedule did not start its workflow');
  }
}

/** The run once it ended and its cleanup had time to end too (five attempts take seconds). */
async function cleanedUp(account: TestAccount, id: string) {
  let run = await waitForRun(stack, account, id, (r) => isTerminal(r.status), 60_000);
  for (const deadline = Date.now() + 30_000; run.step !== 'done' && Date.now() < deadline; await sleep(200)) run = await getRun(stack, account, id);
  return run;
}

const age = (ids: string[]) => sql`UPDATE runs SET completed_at = now() - interval '40 days' WHERE id = ANY(${ids})`.execute(stack.db);

test('a run stores at most RUNWAY_MAX_LOG_BYTES_PER_RUN of setup output, then one marker says how much was dropped; ids stay gapless and a resumed stream gets the rest', async () => {
  const account = await createAccount(stack, 100_000);
  const res = await noisyRun(account, 500);
  expect(res.status).toBe(202);
  const done = await waitDone(account, res.body.id);
  expect(done.status).toBe('succeeded');

  const events = await eventsOf(res.body.id);
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1)); // gapless
  const logs = events.filter((e) => e.type === 'log');
  const kept = logs.filter((e) => !e.data.truncated);
  const stored = storedLogBytes(events);
  // Today every line is stored (500 KB); bounded, the log is the first lines up to 64 KiB.
  expect(stored).toBeLessThanOrEqual(PER_RUN);
  expect(stored).toBeGreaterThan(PER_RUN - 2 * COUNTED);
  expect(kept.map((e) => e.data.line)).toEqual(kept.map((_, i) => String(i).padStart(LINE, '0')));
  const markers = logs.filter((e) => e.data.truncated);
  expect(markers).toHaveLength(1);
  expect(logs.at(-1)).toBe(markers[0]); // the last log event
  expect(markers[0]!.data.truncated).toEqual({ lines: 500 - kept.length, bytes: (500 - kept.length) * COUNTED, bound: 'run', limit: PER_RUN });
  expect(markers[0]!.data.line).toMatch(/log truncated: \d+ more lines \(\d+ bytes\) were dropped/);
  const row = await sql<{ log_bytes: string }>`SELECT log_bytes FROM runs WHERE id = ${res.body.id}`.execute(stack.db);
  expect(Number(row.rows[0]!.log_bytes)).toBe(stored);

  // A client resuming from the middle of the log gets every later event once, the marker included.
  const middle = kept[10]!.id;
  const sse = await SseConnection.open(`${stack.baseUrl}/v1/runs/${res.body.id}/events`, { ...bearer(account), 'last-event-id': String(middle) });
  expect(sse.status).toBe(200);
  await sse.finished();
  expect(sse.ids).toEqual(events.filter((e) => e.id > middle).map((e) => e.id));
  expect(sse.messages.find((m) => (m.data as { truncated?: unknown }).truncated)).toBeDefined();
});

test("a CLI agent's log (its stderr) is bounded the same way; its answer, the model output, is not a log and is kept", async () => {
  const account = await createAccount(stack, 100_000);
  const res = await startRun(stack, account, { prompt: 'go', model: 'cli/noisy', maxTokens: 100 });
  expect(res.status).toBe(202);
  const done = await waitDone(account, res.body.id);
  expect(done).toMatchObject({ status: 'succeeded', output: 'the answer\n' });
  const events = await eventsOf(res.body.id);
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
  const stored = storedLogBytes(events);
  expect(stored).toBeLessThanOrEqual(PER_RUN);
  expect(stored).toBeGreaterThan(PER_RUN - 2 * COUNTED);
  const logs = events.filter((e) => e.type === 'log');
  const markers = logs.filter((e) => e.data.truncated);
  expect(markers).toHaveLength(1);
  expect(logs.at(-1)).toBe(markers[0]);
  const kept = logs.length - 1;
  expect(markers[0]!.data.truncated).toEqual({ lines: 500 - kept, bytes: (500 - kept) * COUNTED, bound: 'run', limit: PER_RUN });
  // The marker comes before the run's end: a client reading to `end` sees it.
  expect(events.findIndex((e) => e.data.truncated)).toBeLessThan(events.findIndex((e) => e.type === 'end'));
});

test("an account's runs store at most RUNWAY_MAX_LOG_BYTES_PER_ACCOUNT of logs; retention gives a purged run's bytes back", async () => {
  const account = await createAccount(stack, 100_000);
  const first = await noisyRun(account, 200);
  const firstDone = await waitDone(account, first.body.id);
  expect(firstDone.status).toBe('succeeded');
  const firstStored = storedLogBytes(await eventsOf(first.body.id));
  expect(firstStored).toBeGreaterThan(PER_RUN - 2 * COUNTED);

  const second = await noisyRun(account, 200);
  expect((await waitDone(account, second.body.id)).status).toBe('succeeded');
  const events = await eventsOf(second.body.id);
  const secondStored = storedLogBytes(events);
  // Cut short of its own bound: the account's is reached first.
  expect(secondStored).toBeLessThanOrEqual(PER_ACCOUNT - firstStored);
  expect(secondStored).toBeGreaterThan(PER_ACCOUNT - firstStored - 2 * COUNTED);
  const marker = events.find((e) => e.data.truncated);
  expect(marker?.data.truncated).toMatchObject({ bound: 'account', limit: PER_ACCOUNT });
  expect(await accountLogBytes(second.body.id)).toBe(firstStored + secondStored);

  await age([first.body.id]);
  await purgeNow();
  expect(await stack.db.selectFrom('runs').select('id').where('id', '=', first.body.id).executeTakeFirst()).toBeUndefined();
  expect(await accountLogBytes(second.body.id)).toBe(secondStored);
});

test('one scheduled purge goes on until nothing expired is left, however many batches that takes, and reports its backlog', async () => {
  const account = await createAccount(stack, 100_000);
  const seed = await startRun(stack, account, { prompt: 'seed', model: 'demo/echo', maxTokens: 8 });
  await waitDone(account, seed.body.id);
  // 1,000 expired runs (copies of a finished one): more than the 200 batches one purge used to
  // take, and more than one activity does in its 1 s budget.
  await sql`
    INSERT INTO runs
    SELECT (jsonb_populate_record(NULL::runs, to_jsonb(r) || jsonb_build_object(
      'id', r.id || 'c' || g, 'seq', nextval('runs_seq_seq'), 'idempotency_key', NULL, 'request_id', NULL,
      'completed_at', now() - interval '40 days'))).*
      FROM runs r, generate_series(1, 1000) g WHERE r.id = ${seed.body.id}`.execute(stack.db);
  const expired = () =>
    sql<{ n: string }>`SELECT count(*) AS n FROM runs WHERE id LIKE ${`${seed.body.id}c%`}`.execute(stack.db).then((r) => Number(r.rows[0]!.n));
  expect(await expired()).toBe(1000);

  const { purged, execution } = await purgeNowWithExecution();
  expect(await expired()).toBe(0);
  expect(purged.runs).toBeGreaterThan(0); // the counts of the last execution of the chain
  // The first execution ran out of its budget and went on as new, without waiting for the next tick.
  expect((await stack.temporal.workflow.getHandle(execution.workflowId, execution.runId).describe()).status.name).toBe('CONTINUED_AS_NEW');

  // The worker runs in this process: its registry is this one.
  const backlog = registry.getSingleMetric('runway_retention_backlog');
  expect(backlog && (await backlog.get()).values[0]?.value).toBe(0);
});

test('a workspace deeper than PATH_MAX with locked folders is removed after its run; the run ends its cleanup and retention purges it', async () => {
  const account = await createAccount(stack, 100_000);
  // 300 levels of 20-character names (6,300 characters: past PATH_MAX), built from the top so
  // that no command needs the long path; a folder without permissions at the bottom.
  const name = 'd'.repeat(20);
  const deep = `mkdir ${name} && mkdir ${name}/locked && echo bottom > ${name}/locked/f && chmod 0 ${name}/locked && i=0; while [ $i -lt 300 ]; do mkdir t && mv ${name} t/ && mv t ${name} || exit 1; i=$((i+1)); done`;
  const res = await startRun(stack, account, { prompt: 'x', model: 'demo/echo', maxTokens: 8, workspace: { repo: repo.path, setup: [deep] } });
  expect(res.status).toBe(202);
  // Today cleanup fails five times (ENAMETOOLONG) and the run stays at `step = cleanup`.
  expect(await cleanedUp(account, res.body.id)).toMatchObject({ status: 'succeeded', step: 'done' });
  expect(existsSync(path.join(workspacesDir, res.body.id))).toBe(false);
  expect(await stack.db.selectFrom('workspace_leftovers').select('owner_id').where('owner_id', '=', res.body.id).executeTakeFirst()).toBeUndefined();

  await age([res.body.id]);
  await purgeNow();
  expect(await stack.db.selectFrom('runs').select('id').where('id', '=', res.body.id).executeTakeFirst()).toBeUndefined();
}, 120_000);

test('a workspace nothing can remove is recorded as a leftover, and its run still ends its cleanup and can be purged', async () => {
  const account = await createAccount(stack, 100_000);
  const res = await startRun(stack, account, { prompt: 'x', model: 'demo/echo', maxTokens: 8, workspace: { repo: repo.path, setup: ['mkdir mnt && sleep 3'] } });
  expect(res.status).toBe(202);
  // A file system mounted inside the workspace: `rm --one-file-system` never crosses into it.
  const mnt = path.join(workspacesDir, res.body.id, 'mnt');
  for (const deadline = Date.now() + 30_000; !existsSync(mnt); await sleep(20)) if (Date.now() > deadline) throw new Error('setup did not start');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'runway-test', mnt]);
  try {
    // Today the run stays at `step = cleanup` with its path, and retention never takes it.
    expect(await cleanedUp(account, res.body.id)).toMatchObject({ status: 'succeeded', step: 'done' });
    const leftover = await stack.db.selectFrom('workspace_leftovers').selectAll().where('owner_id', '=', res.body.id).executeTakeFirst();
    expect(leftover?.path).toBe(path.join(workspacesDir, res.body.id));
    const row = await stack.db.selectFrom('runs').select('workspace_path').where('id', '=', res.body.id).executeTakeFirstOrThrow();
    expect(row.workspace_path).toBeNull();
    await age([res.body.id]);
    await purgeNow();
    expect(await stack.db.selectFrom('runs').select('id').where('id', '=', res.body.id).executeTakeFirst()).toBeUndefined();
  } finally {
    execFileSync('umount', [mnt]);
  }
}, 120_000);
