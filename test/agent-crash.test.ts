import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { recordedTurn } from '../activities/agent-turn';
import { getRunStep } from '../src/db/run-steps';
import { costOf, type Usage } from '../src/pricing';
import type { ModelStepData } from '../src/tools/types';
import { isTerminal } from '../workflows/run-vocabulary';
import { bearer, createAccount, expectLedgerConsistent, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeOpenAi, fragments, type FakeBehaviour, type RecordedRequest } from './helpers/fake-openai';
import { createFixtureRepo, pidsWith, runEvents, type FixtureRepo } from './helpers/git-repos';
import { spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { startStack, type TestStack } from './helpers/stack';

/**
 * Agent runs whose worker process is SIGKILLed mid-step (issue #28): a tool call that finished
 * is never executed again, one interrupted by the crash runs again (its side effects happen
 * twice: only finished calls are recorded), a model turn interrupted mid-stream restarts and is
 * billed once, for its final attempt. Workers are real processes, as in crash.test.ts and
 * workspaces-crash.test.ts; both share the host's workspace folder and host task queue (the
 * queue is named after the host name, the same for every worker process on this machine).
 */

// 0.1 credit per input token, 1 per output token; sandbox time at 1000 credits a second.
const PRICE = { input: 100, output: 1000 };
const TOOL_PRICE_PER_SECOND = 1000;
const MODEL = 'openai/agent';
const tmp = path.join(process.env.RUNWAY_TEST_WORKDIR as string, `agent-crash-${process.pid}`);
const reposRoot = path.join(tmp, 'repos');
const workspacesDir = path.join(tmp, 'workspaces');

let stack: TestStack;
let repo: FixtureRepo;
let account: TestAccount;
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['unscripted'] });
const workerEnv: Record<string, string> = {};
const workers: PlatformProcess[] = [];

beforeAll(async () => {
  await fake.start();
  repo = createFixtureRepo(reposRoot);
  const env = {
    RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
    RUNWAY_PRICES: JSON.stringify({ [MODEL]: PRICE }),
    RUNWAY_LOCAL_REPOS_ROOT: reposRoot,
    RUNWAY_WORKSPACES_DIR: workspacesDir,
    // Kept after success: the tests count the lines the tools wrote.
    RUNWAY_KEEP_WORKSPACES: 'true',
    RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
    RUNWAY_TOOL_PRICE_PER_SECOND: String(TOOL_PRICE_PER_SECOND),
  };
  stack = await startStack({ worker: false, env });
  Object.assign(workerEnv, stackEnv(stack), env);
  account = await createAccount(stack, 10_000_000);
});
afterAll(async () => {
  for (const w of workers) await w.kill('SIGKILL');
  await stack?.stop();
  await fake.stop();
});

async function newWorker(): Promise<PlatformProcess> {
  const w = await spawnWorker(workerEnv);
  workers.push(w);
  return w;
}

/** A live worker: the last one started, unless it was killed. */
async function liveWorker(): Promise<PlatformProcess> {
  const last = workers[workers.length - 1];
  return last && last.child.exitCode === null && last.child.signalCode === null ? last : newWorker();
}

type Message = RecordedRequest['body']['messages'][number];
const firstUser = (messages: Message[]) => messages.find((m) => m.role === 'user')?.content;
const turnOf = (messages: Message[]) => messages.filter((m) => m.role === 'assistant').length;

/** Scripts the turns of the run whose prompt is `prompt` by how many turns it holds: a retried turn gets the same answer. */
function script(prompt: string, turn: (n: number) => FakeBehaviour): void {
  fake.respond((body) => (firstUser(body.messages) === prompt ? turn(turnOf(body.messages)) : undefined));
}

/** How many times the model was asked for each turn of the run with this prompt. */
function modelCalls(prompt: string): number[] {
  const counts: number[] = [];
  for (const r of fake.requests) {
    if (firstUser(r.body.messages) !== prompt) continue;
    const n = turnOf(r.body.messages);
    counts[n] = (counts[n] ?? 0) + 1;
  }
  return Array.from(counts, (c) => c ?? 0);
}

const command = (cmd: string, id: string) => ({ id, name: 'run_command', arguments: JSON.stringify({ command: cmd }) });
const calls = (...toolCalls: ReturnType<typeof command>[]): FakeBehaviour => ({ kind: 'stream', tokens: ['calling'], toolCalls });
const answer = (...tokens: string[]): FakeBehaviour => ({ kind: 'stream', tokens });

const agentRun = (prompt: string, extra: Record<string, unknown> = {}) =>
  startRun(stack, account, {
    prompt,
    model: MODEL,
    maxTokens: 50,
    // Large enough for every turn and several seconds of sandbox time.
    maxCredits: 200_000,
    workspace: { repo: repo.path },
    tools: ['workspace'],
    ...extra,
  });

const workspaceFile = (runId: string, name: string) => {
  try {
    return readFileSync(path.join(workspacesDir, runId, name), 'utf8');
  } catch {
    return '';
  }
};

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The crashed worker's sandboxed processes must die with it: they would write into the workspace the retry uses. */
async function expectGoneWithin(marker: string, ms: number): Promise<void> {
  const since = Date.now();
  while (pidsWith(marker).length > 0 && Date.now() - since < ms) await sleep(25);
  expect(pidsWith(marker)).toEqual([]);
}

interface StepView {
  index: number;
  kind: 'model' | 'tool';
  name?: string;
  finishedAt: string | null;
  cost: number;
  error?: string | null;
  usage?: { inputTokens: number; outputTokens: number };
}

async function stepsOf(runId: string): Promise<StepView[]> {
  const res = await stack.http.get(`/v1/runs/${runId}/steps?limit=200`).set(bearer(account));
  expect(res.status).toBe(200);
  return res.body.data as StepView[];
}

/** What every run here must end with: steps once each and finished, gapless events, the bill the sum of the steps. */
async function expectWholeRun(runId: string, shape: string[]) {
  const run = await waitForRun(stack, account, runId, (r) => isTerminal(r.status) && r.step === 'done', 90_000);
  const steps = await stepsOf(runId);
  expect(steps.map((s) => `${s.index}:${s.kind}${s.kind === 'tool' ? `:${s.name}` : ''}`)).toEqual(shape);
  expect(steps.filter((s) => s.finishedAt === null)).toEqual([]);
  expect(run.steps).toBe(shape.length);

  const ids = (await stack.db.selectFrom('run_events').select('id').where('run_id', '=', runId).orderBy('id').execute()).map((r) => Number(r.id));
  expect(ids).toEqual(ids.map((_, i) => i + 1));
  // Each step began once and each tool call's result was recorded once, crash or not.
  const events = await runEvents(stack.db, runId);
  const tools = steps.filter((s) => s.kind === 'tool').length;
  expect(events.filter((e) => e.type === 'step').map((e) => e.data.index)).toEqual(steps.map((s) => s.index));
  expect(events.filter((e) => e.type === 'tool_call')).toHaveLength(tools);
  expect(events.filter((e) => e.type === 'tool_result')).toHaveLength(tools);

  // The bill is the model turns' costs plus the tool steps' costs; charged + refunded == estimate.
  const stepCosts = steps.reduce((sum, s) => sum + s.cost, 0);
  expect(run.cost.charged).toBe(stepCosts);
  expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);
  await expectLedgerConsistent(stack, account);
  return { run, steps, events };
}

describe('agent runs across worker crashes', () => {
  test('killed during a tool call: finished calls ran once, the interrupted one runs again, the run completes', async () => {
    const marker = String(Math.floor(100_000 + Math.random() * 800_000));
    const prompt = `crash in a tool ${marker}`;
    // The slow call's sleep is named by the marker (GNU sleep takes fractions): 5.xxxxxx seconds.
    const slow = `echo run >> .tool-counter && sleep 5.${marker}`;
    script(prompt, (n) =>
      [
        calls(command('echo run >> .counter-a', 'a')),
        // Two calls in one turn: the kill lands after the first finished, during the second.
        calls(command('echo run >> .counter-b', 'b'), command(slow, 'slow')),
        answer('all', ' done'),
      ][n] as FakeBehaviour,
    );
    const first = await newWorker();
    const res = await agentRun(prompt);
    expect(res.status).toBe(202);
    const runId = res.body.id as string;

    // The slow call has written its line and sleeps (the sleep itself, not a wrapper naming it).
    await until('the slow tool call', () => workspaceFile(runId, '.tool-counter') === 'run\n' && pidsWith(`sleep 5.${marker}`, 'start').length > 0);
    // Killed while it runs: step 4 (the slow call) is begun, not finished.
    expect((await getRunStep(stack.db, runId, 4))?.finished_at).toBeNull();
    await first.kill('SIGKILL');
    await expectGoneWithin(`sleep 5.${marker}`, 5000);
    expect((await getRunStep(stack.db, runId, 4))?.finished_at).toBeNull();

    await newWorker();
    const { run, steps } = await expectWholeRun(runId, ['0:model', '1:tool:run_command', '2:model', '3:tool:run_command', '4:tool:run_command', '5:model']);
    expect(run).toMatchObject({ status: 'succeeded', output: 'all done', error: null });
    // Finished before the kill: ran exactly once. Interrupted by it: ran again (a call is
    // recorded only when it finishes, so its side effects before the crash happen twice).
    expect(workspaceFile(runId, '.counter-a')).toBe('run\n');
    expect(workspaceFile(runId, '.counter-b')).toBe('run\n');
    expect(workspaceFile(runId, '.tool-counter')).toBe('run\nrun\n');
    expect(steps.filter((s) => s.kind === 'tool').map((s) => s.error)).toEqual([null, null, null]);
    // The re-run slept its 5 s and was billed for it; the killed attempt was not (it never finished).
    expect(steps[4]?.cost).toBeGreaterThanOrEqual(5 * TOOL_PRICE_PER_SECOND);
    expect(steps[4]?.cost).toBeLessThan(8 * TOOL_PRICE_PER_SECOND);
    // No finished model turn was asked again.
    expect(modelCalls(prompt)).toEqual([1, 1, 1]);
  }, 180_000);

  test('killed during a model turn: the turn restarts and is billed once, the calls before it ran once', async () => {
    const prompt = `crash in a turn ${process.pid}`;
    // 30 tokens, 150 ms apart: each attempt of the slow turn streams for 4.5 s.
    const slowTokens = Array.from({ length: 30 }, (_, i) => `s${i} `);
    const after = command('echo run >> .counter-b', 'b');
    script(prompt, (n) =>
      [
        calls(command('echo run >> .counter-a', 'a')),
        { kind: 'stream', tokens: slowTokens, delayMs: 150, toolCalls: [after] },
        answer('finished'),
      ][n] as FakeBehaviour,
    );
    const first = await liveWorker();
    const res = await agentRun(prompt);
    expect(res.status).toBe(202);
    const runId = res.body.id as string;

    // The slow turn (step 2) has streamed some of its output.
    await waitForRun(stack, account, runId, (r) => r.output.includes('s2 '), 60_000);
    expect((await getRunStep(stack.db, runId, 2))?.finished_at).toBeNull();
    await first.kill('SIGKILL');

    await newWorker();
    const { run, steps, events } = await expectWholeRun(runId, ['0:model', '1:tool:run_command', '2:model', '3:tool:run_command', '4:model']);
    expect(run).toMatchObject({ status: 'succeeded', output: 'finished', error: null });
    expect(workspaceFile(runId, '.counter-a')).toBe('run\n');
    expect(workspaceFile(runId, '.counter-b')).toBe('run\n');
    // The interrupted turn was asked again and said so to followers; the others once.
    expect(modelCalls(prompt)).toEqual([1, 2, 1]);
    const resets = events.filter((e) => e.type === 'reset');
    expect(resets.length).toBeGreaterThanOrEqual(1);
    expect(resets.every((e) => Number(e.data.attempt) >= 2)).toBe(true);
    // Billed for its final attempt only: one whole stream's usage (the fake reports the text
    // tokens and the tool call's deltas: its header and argument fragments), not two.
    const row = await getRunStep(stack.db, runId, 2);
    const turn = row?.data as ModelStepData;
    expect(turn.attempt).toBeGreaterThanOrEqual(2);
    expect(turn.text).toBe(slowTokens.join(''));
    expect(steps[2]?.usage?.outputTokens).toBe(slowTokens.length + 1 + fragments(after.arguments).length);
    // A turn's cost is what it adds to the run's bill on top of the turns before it.
    const base = steps[0]?.usage as Usage;
    const own = steps[2]?.usage as Usage;
    const total = { inputTokens: base.inputTokens + own.inputTokens, outputTokens: base.outputTokens + own.outputTokens };
    expect(steps[2]?.cost).toBe(costOf(PRICE, total) - costOf(PRICE, base));
  }, 180_000);

  test('sandbox time is billed at RUNWAY_TOOL_PRICE_PER_SECOND: a 1 s command costs about 1000 credits', async () => {
    const prompt = `sleep a second ${process.pid}`;
    script(prompt, (n) => [calls(command('sleep 1', 's')), answer('slept')][n] as FakeBehaviour);
    await liveWorker();
    const res = await agentRun(prompt);
    expect(res.status).toBe(202);
    const { run, steps } = await expectWholeRun(res.body.id as string, ['0:model', '1:tool:run_command', '2:model']);
    expect(run).toMatchObject({ status: 'succeeded', output: 'slept' });
    // The sandbox's own start-up is sandbox time too: about a second, never less.
    expect(steps[1]?.cost).toBeGreaterThanOrEqual(TOOL_PRICE_PER_SECOND);
    expect(steps[1]?.cost).toBeLessThan(2.5 * TOOL_PRICE_PER_SECOND);
    const turns = steps.filter((s) => s.kind === 'model').reduce((sum, s) => sum + s.cost, 0);
    expect(turns).toBeGreaterThan(0);
    expect(run.cost.charged).toBe(turns + (steps[1]?.cost ?? 0));
  }, 120_000);

  test('tool time is billed within the reservation: a cap that cannot pay for a command\'s seconds charges no more than it', async () => {
    const prompt = `sleep past the cap ${process.pid}`;
    script(prompt, (n) => [calls(command('sleep 2', 'p'), command('sleep 2', 'q')), answer('never')][n] as FakeBehaviour);
    await liveWorker();
    // Enough for the first turn and a little tool time, far from 2 s at 1000 credits a second.
    const res = await agentRun(prompt, { maxCredits: 1500 });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id as string, (r) => isTerminal(r.status) && r.step === 'done', 90_000);
    expect(run.cost.charged + run.cost.refunded).toBe(1500);
    expect(run.cost.charged).toBeLessThanOrEqual(1500);
    const row = await stack.db.selectFrom('runs').select(['overrun']).where('id', '=', run.id).executeTakeFirstOrThrow();
    expect(row.overrun).toBe(0);
    // The second command is refused: nothing is left for its time.
    const steps = (await stack.http.get(`/v1/runs/${run.id}/steps`).set(bearer(account))).body.data as { kind: string; error: string | null }[];
    expect(steps[2]).toMatchObject({ kind: 'tool', error: expect.stringMatching(/spend cap/) });
    await expectLedgerConsistent(stack, account);
  }, 120_000);

  test('a final turn cut at maxTokens, recorded before its worker died, is reported truncated by the retry', async () => {
    // The crash window here (between recording the turn and reporting it to Temporal) is a few
    // milliseconds: no kill lands in it reliably, so this asks what a retry would find.
    const prompt = `cut short ${process.pid}`;
    script(prompt, () => answer(...Array.from({ length: 20 }, (_, i) => `w${i} `)));
    await liveWorker();
    const res = await agentRun(prompt, { maxTokens: 5 });
    expect(res.status).toBe(202);
    const { run } = await expectWholeRun(res.body.id as string, ['0:model']);
    expect(run).toMatchObject({ status: 'succeeded', truncated: true });
    expect(await recordedTurn(stack.db, run.id, 0)).toEqual({ truncated: true, toolCalls: 0 });
  }, 120_000);
});
