import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeOpenAi, type FakeBehaviour } from './helpers/fake-openai';
import { createFixtureRepo } from './helpers/git-repos';
import { startStack } from './helpers/stack';
import { ensureTemporalCli } from '../src/temporal/cli';
import { deleteRunStarts } from '../src/db/run-starts';
import { newId } from '../src/ids';
import { requestIdOf } from '../src/sessions/session-service';
import { RUN_WORKFLOW_TYPE } from '../workflows/definitions';
import { admissionRequest, admitWithoutStart } from './helpers/run-input';

/**
 * Workflow versioning guard: histories of real workflows are kept as fixtures and replayed
 * against the current workflow code.
 * - Unprefixed: histories recorded by the current code (a run that succeeded, failed at its
 *   provider, was stopped, was truncated, had a workspace; a session request, a closed session, a
 *   session request whose session is gone, a session closed while preparing; an agent run with a
 *   tool call then an answer, and an agent run long enough to continue as new, kept as one file per
 *   execution: `agent-continued-run1` ends in its continue-as-new, `-run2` carries on). A change that would
 *   break workflows in flight fails here. Run workflows are changed outright (an upgrade drains
 *   them); sessions and webhook deliveries live long: change them with `patched()`
 *   (workflows/patches.ts).
 * - `v0.1-*`: session and webhook delivery histories recorded by 0.1 workers, which asked
 *   `patched()` for the patches that 0.2 deprecates (`deprecatePatch`): an open session or
 *   delivery carried over from 0.1 must still replay. Removed with the last of those patches.
 * Re-record the unprefixed ones with RUNWAY_RECORD_HISTORIES=1 npx jest test/replay.test.ts
 * (RUNWAY_RECORD_ONLY=agent-tool,agent-continued records only the scenarios named; `session-closed`
 * closes the session of `session-request`, so name both or neither) (only when intended, e.g. after changing a workflow's input: a history that older workers
 * wrote and open workflows may still have is renamed to `v<version>-*` first, so it keeps
 * replaying). The webhook delivery fixtures were recorded by hand from a receiver answering 500,
 * 500, 200 with the schedule 200ms,2s and RUNWAY_WEBHOOK_PARK_AFTER_MS=1000: `webhook-parked`
 * (the delivery parked before its third attempt) and `webhook-continued` (the workflow the
 * dispatcher started for it); see the README's Development section.
 */
const FIXTURES = path.join(__dirname, 'fixtures', 'histories');
/** Scenarios whose workflow continues as new: every execution is kept, `<name>-run<n>.json`. */
const EVERY_EXECUTION = new Set(['agent-continued']);
/** A model with a price and tool calls, served by the fake. */
const AGENT_MODEL = 'openai/gpt-4o-mini';

/** `temporal workflow show` as JSON: the canonical protobuf JSON that Worker.runReplayHistories reads back. */
async function showHistory(stack: Awaited<ReturnType<typeof startStack>>, workflowId: string, runId?: string): Promise<Buffer> {
  return execFileSync(await ensureTemporalCli(), [
    'workflow', 'show', '--workflow-id', workflowId, ...(runId ? ['--run-id', runId] : []), '--output', 'json',
    '--address', stack.config.temporal.address, '--namespace', stack.config.temporal.namespace,
  ]);
}

/** A workflow's executions' histories, first to last, followed back from the last one through `continuedExecutionRunId`. */
async function everyExecution(stack: Awaited<ReturnType<typeof startStack>>, workflowId: string): Promise<Buffer[]> {
  const histories = [await showHistory(stack, workflowId)];
  for (;;) {
    const first = (JSON.parse(histories[0]?.toString() ?? '{}') as { events?: { workflowExecutionStartedEventAttributes?: { continuedExecutionRunId?: string } }[] }).events?.[0];
    const previous = first?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previous) return histories;
    histories.unshift(await showHistory(stack, workflowId, previous));
  }
}

async function recordHistories(): Promise<void> {
  const fake = new FakeOpenAi();
  await fake.start();
  const reposRoot = path.join(process.env.RUNWAY_TEST_WORKDIR as string, 'replay-repos');
  const repo = createFixtureRepo(reposRoot).path;
  const stack = await startStack({
    env: { RUNWAY_OPENAI_BASE_URL: fake.baseUrl, RUNWAY_DEMO_DELAY_MS: '20', RUNWAY_LOCAL_REPOS_ROOT: reposRoot, RUNWAY_WORKSPACE_MIN_FREE_MB: '1' },
  });
  try {
    const account = await createAccount(stack, 1000);
    /** Agent runs reserve for every turn they may take: their own, richer account. */
    const owners = new Map<string, TestAccount>();
    const agentRun = async (prompt: string, turn: (n: number) => FakeBehaviour, extra: Record<string, unknown>) => {
      fake.respond((body) => {
        const messages = body.messages as { role: string; content?: unknown }[];
        if (messages.find((m) => m.role === 'user')?.content !== prompt) return undefined;
        return turn(messages.filter((m) => m.role === 'assistant').length);
      });
      const rich = await createAccount(stack, 10_000_000);
      const res = await startRun(stack, rich, { prompt, model: AGENT_MODEL, maxTokens: 20, workspace: { repo }, tools: ['workspace'], ...extra });
      expect(res.status).toBe(202);
      owners.set(res.body.id as string, rich);
      return res.body.id as string;
    };
    const readFile = (n: number): FakeBehaviour => ({ kind: 'stream', tokens: ['reading'], toolCalls: [{ id: `call_${n}`, name: 'read_file', arguments: JSON.stringify({ path: 'app.txt' }) }] });
    const answer: FakeBehaviour = { kind: 'stream', tokens: ['read', ' it'] };
    const cases: Record<string, () => Promise<string>> = {
      succeeded: async () => (await startRun(stack, account, { prompt: 'replay me please', maxTokens: 10 })).body.id,
      'provider-failed': async () => {
        fake.enqueue({ kind: 'status', status: 400 });
        return (await startRun(stack, account, { prompt: 'fail', model: 'openai/gpt-4o-mini', maxTokens: 10 })).body.id;
      },
      stopped: async () => {
        const id = (await startRun(stack, account, { prompt: Array(100).fill('z').join(' '), maxTokens: 100 })).body.id;
        await waitForRun(stack, account, id, (r) => r.status === 'running');
        await stack.http.post(`/v1/runs/${id}/stop`).set(bearer(account));
        return id;
      },
      truncated: async () => (await startRun(stack, account, { prompt: 'a b c d e f', maxTokens: 2 })).body.id,
      workspace: async () =>
        (await startRun(stack, account, { prompt: 'in a workspace', maxTokens: 5, workspace: { repo, branch: 'runway/replay', setup: ['echo ok'] } })).body.id,
      'session-request': async () => {
        const session = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'demo/echo', maxTokens: 5, contextTokens: 50 });
        sessionId = session.body.id as string;
        const first = await stack.http.post(`/v1/sessions/${sessionId}/requests`).set(bearer(account)).send({ prompt: 'first turn' });
        await waitForRun(stack, account, first.body.runId);
        return (await stack.http.post(`/v1/sessions/${sessionId}/requests`).set(bearer(account)).send({ prompt: 'second turn' })).body.runId;
      },
      'session-closed': async () => {
        await stack.http.delete(`/v1/sessions/${sessionId}`).set(bearer(account));
        return sessionId;
      },
      // The terminal paths added by the security audit.
      'session-gone': async () => {
        const session = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'demo/echo', maxTokens: 5 });
        // Admitted and started as the API does it, but the API "dies" before telling the session.
        const runId = newId('run');
        const { input } = await admitWithoutStart(
          stack,
          admissionRequest(runId, account.id, { prompt: 'orphan', sessionId: session.body.id as string, requestId: requestIdOf(runId) }),
          60_000,
        );
        await stack.temporal.workflow.start(RUN_WORKFLOW_TYPE, { workflowId: runId, taskQueue: stack.config.temporal.taskQueue, args: [input] });
        await deleteRunStarts(stack.db, [runId]);
        await stack.http.delete(`/v1/sessions/${session.body.id}`).set(bearer(account));
        return runId;
      },
      'session-prepare-cancelled': async () => {
        const workspace = { repo, setup: ['sleep 600'] };
        const session = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'demo/echo', maxTokens: 5, workspace });
        const id = session.body.id as string;
        await stack.http.post(`/v1/sessions/${id}/requests`).set(bearer(account)).send({ prompt: 'waits' });
        for (let i = 0; i < 300; i++) {
          const rows = await stack.db.selectFrom('run_events').select('data').where('run_id', '=', id).where('type', '=', 'progress').execute();
          if (rows.some((r) => r.data.step === 'setup')) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await stack.http.delete(`/v1/sessions/${id}`).set(bearer(account));
        return id;
      },
      // Agent runs (issue #28): a workspace tool call then an answer; then 51 turns of tool calls,
      // one past the 50 after which the loop continues as new, with its workspace carried over.
      'agent-tool': () => agentRun('replay an agent', (n) => (n === 0 ? readFile(n) : answer), {}),
      'agent-continued': () => agentRun('replay a long agent', (n) => (n < 51 ? readFile(n) : answer), { maxSteps: 60 }),
    };
    let sessionId = '';
    const only = process.env.RUNWAY_RECORD_ONLY?.split(',').filter(Boolean);
    mkdirSync(FIXTURES, { recursive: true });
    for (const [name, start] of Object.entries(cases)) {
      if (only && !only.includes(name)) continue;
      const id = await start();
      if (id.startsWith('run_')) await waitForRun(stack, owners.get(id) ?? account, id, undefined, 120_000);
      const handle = stack.temporal.workflow.getHandle(id);
      await handle.result();
      if (EVERY_EXECUTION.has(name)) {
        const histories = await everyExecution(stack, id);
        expect(histories.length).toBeGreaterThan(1);
        histories.forEach((json, i) => writeFileSync(path.join(FIXTURES, `${name}-run${i + 1}.json`), json));
      } else {
        writeFileSync(path.join(FIXTURES, `${name}.json`), await showHistory(stack, id));
      }
    }
    const poor = await createAccount(stack, 0);
    const refused = await startRun(stack, poor, { prompt: 'no money', maxTokens: 10 });
    expect(refused.status).toBe(402);
  } finally {
    await stack.stop();
    await fake.stop();
  }
}

test('recorded run histories replay deterministically against the current workflow code', async () => {
  if (process.env.RUNWAY_RECORD_HISTORIES === '1') await recordHistories();
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThanOrEqual(16);
  const script = path.join(__dirname, '..', 'scripts', 'replay-histories.ts');
  let stdout: string;
  try {
    stdout = execFileSync(process.execPath, ['--import', 'tsx', script, FIXTURES, process.env.RUNWAY_TEST_BUNDLE as string], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    stdout = String((err as { stdout?: string }).stdout ?? err);
  }
  const report = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { replayed: number; results: { workflowId: string; error: string | null }[] };
  expect(report.replayed).toBe(files.length);
  expect(report.results.filter((r) => r.error)).toEqual([]);
}, 300_000);
