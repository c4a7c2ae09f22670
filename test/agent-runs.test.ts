import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registry } from '../src/metrics/metrics';
import { isTerminal } from '../workflows/run-vocabulary';
import { bearer, createAccount, expectLedgerConsistent, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeAnthropic } from './helpers/fake-anthropic';
import { FakeOpenAi, type FakeBehaviour, type RecordedRequest } from './helpers/fake-openai';
import { createFixtureRepo, pidsWith, runEvents, type FixtureRepo } from './helpers/git-repos';
import { startStack, type TestStack } from './helpers/stack';

// 0.1 credit per input token, 1 per output token.
const PRICE = { input: 100, output: 1000 };
const MODEL = 'openai/agent';
const WORKDIR = process.env.RUNWAY_TEST_WORKDIR as string;
const tmp = path.join(WORKDIR, `agent-runs-${process.pid}`);
const workspacesDir = path.join(tmp, 'workspaces');

let stack: TestStack;
let repo: FixtureRepo;
let account: TestAccount;
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['unscripted'] });
const anthropic = new FakeAnthropic({ kind: 'stream', tokens: ['unscripted'] });

beforeAll(async () => {
  await fake.start();
  await anthropic.start();
  repo = createFixtureRepo(path.join(tmp, 'repos'));
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_ANTHROPIC_BASE_URL: anthropic.baseUrl,
      RUNWAY_PRICES: JSON.stringify({ [MODEL]: PRICE, 'anthropic/agent': PRICE }),
      RUNWAY_LOCAL_REPOS_ROOT: path.join(tmp, 'repos'),
      RUNWAY_WORKSPACES_DIR: workspacesDir,
      RUNWAY_KEEP_WORKSPACES: 'true',
      RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
    },
  });
  account = await createAccount(stack, 1_000_000);
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
  await anthropic.stop();
});

type Message = RecordedRequest['body']['messages'][number];
/** The run's prompt: the last user message (a session's earlier requests come before it). */
const lastUser = (messages: Message[]) => [...messages].reverse().find((m) => m.role === 'user')?.content;

/**
 * Scripts the model's turns for the run whose prompt is `prompt`: the turn is chosen by how many
 * assistant turns the conversation already holds, so a retried turn gets the same answer.
 */
function script(prompt: string, turn: (n: number, messages: Message[]) => FakeBehaviour): void {
  fake.respond((body) => {
    const messages = body.messages as Message[];
    if (lastUser(messages) !== prompt) return undefined;
    const lastUserAt = messages.map((m) => m.role).lastIndexOf('user');
    const ownTurns = messages.slice(lastUserAt).filter((m) => m.role === 'assistant').length;
    return turn(ownTurns, messages);
  });
}
const call = (name: string, args: Record<string, unknown>, id?: string): FakeBehaviour => ({
  kind: 'stream',
  tokens: [`calling ${name}`],
  toolCalls: [{ id, name, arguments: JSON.stringify(args) }],
});
const answer = (...tokens: string[]): FakeBehaviour => ({ kind: 'stream', tokens });
const toolMessages = (messages: Message[]) => messages.filter((m) => m.role === 'tool').map((m) => String(m.content));

async function steps(runId: string) {
  const res = await stack.http.get(`/v1/runs/${runId}/steps?limit=200`).set(bearer(account));
  expect(res.status).toBe(200);
  return res.body.data as Record<string, unknown>[];
}

const workspaceRun = (prompt: string, extra: Record<string, unknown> = {}) =>
  startRun(stack, account, { prompt, model: MODEL, maxTokens: 50, workspace: { repo: repo.path }, tools: ['workspace'], ...extra });

describe('agent runs: the tool loop', () => {
  test('a scripted coding task reads, edits, runs a command and answers; the file changed, events in order, money exact', async () => {
    const prompt = 'make app.txt shout';
    let seen: string[] = [];
    script(prompt, (n, messages) => {
      seen = toolMessages(messages);
      return [
        call('read_file', { path: 'app.txt' }),
        call('edit_file', { path: 'app.txt', old_string: 'app', new_string: 'APP' }),
        call('run_command', { command: 'cat app.txt && echo ran > ran.txt' }),
        answer('done:', ' shouted'),
      ][n] as FakeBehaviour;
    });
    const res = await workspaceRun(prompt);
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id, (r) => isTerminal(r.status) && r.step === 'done', 60_000);
    expect(run).toMatchObject({ status: 'succeeded', output: 'done: shouted', error: null, maxSteps: 20, steps: 7 });
    expect(run.tools).toHaveLength(6);

    const dir = path.join(workspacesDir, run.id);
    expect(readFileSync(path.join(dir, 'app.txt'), 'utf8')).toBe('APP\n');
    expect(readFileSync(path.join(dir, 'ran.txt'), 'utf8')).toBe('ran\n');
    // The model saw each tool's result: the file as read, then the command's output.
    expect(seen[0]).toContain('app');
    expect(seen[2]).toContain('APP');

    const all = await steps(run.id);
    expect(all.map((s) => `${s.index}:${s.kind}:${s.kind === 'tool' ? s.name : ''}`)).toEqual([
      '0:model:', '1:tool:read_file', '2:model:', '3:tool:edit_file', '4:model:', '5:tool:run_command', '6:model:',
    ]);
    expect(all[1]).toMatchObject({ arguments: JSON.stringify({ path: 'app.txt' }), truncated: false, error: null });
    expect(all[6]).toMatchObject({ kind: 'model', text: 'done: shouted', toolCalls: [] });

    const events = await runEvents(stack.db, run.id);
    const kinds = events.filter((e) => ['step', 'tool_call', 'tool_result'].includes(e.type)).map((e) => (e.type === 'step' ? `step:${e.data.kind}` : e.type));
    expect(kinds).toEqual([
      'step:model', 'step:tool', 'tool_call', 'tool_result',
      'step:model', 'step:tool', 'tool_call', 'tool_result',
      'step:model', 'step:tool', 'tool_call', 'tool_result',
      'step:model',
    ]);
    // Event ids are gapless.
    const ids = (await stack.db.selectFrom('run_events').select('id').where('run_id', '=', run.id).orderBy('id').execute()).map((r) => Number(r.id));
    expect(ids).toEqual(ids.map((_, i) => i + 1));

    // Metrics count steps and tool calls by tool and outcome.
    const exposed = await registry.metrics();
    expect(exposed).toMatch(/runway_agent_steps_total\{kind="tool"\} [1-9]/);
    expect(exposed).toMatch(/runway_tool_calls_total\{tool="edit_file",outcome="ok"\} [1-9]/);

    // The bill is the sum of the turns' costs; charged + refunded == estimate.
    const turnCosts = all.filter((s) => s.kind === 'model').reduce((sum, s) => sum + (s.cost as number), 0);
    expect(run.cost.charged).toBe(turnCosts);
    expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);
    await expectLedgerConsistent(stack, account);
  });

  test('anthropic/*: tool_use blocks become tool steps, their results go back as tool_result blocks', async () => {
    const prompt = 'anthropic reads a file';
    let followUp: unknown[] = [];
    anthropic.respond((body) => {
      const messages = body.messages as { role: string; content: unknown }[];
      if (messages[0]?.content !== prompt) return undefined;
      followUp = messages;
      return messages.length === 1
        ? { kind: 'stream', tokens: ['let me look'], toolCalls: [{ id: 'toolu_1', name: 'read_file', arguments: JSON.stringify({ path: 'README.md' }) }] }
        : { kind: 'stream', tokens: ['it is a fixture'] };
    });
    const res = await startRun(stack, account, { prompt, model: 'anthropic/agent', maxTokens: 50, workspace: { repo: repo.path }, tools: ['read_file'] });
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run).toMatchObject({ status: 'succeeded', output: 'it is a fixture', steps: 3 });
    expect(followUp).toMatchObject([
      { role: 'user', content: prompt },
      { role: 'assistant', content: [{ type: 'text', text: 'let me look' }, { type: 'tool_use', id: 'toolu_1', name: 'read_file', input: { path: 'README.md' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: expect.stringContaining('# fixture') }] },
    ]);
  });

  test('hostile tool arguments are refused with an error the model sees, and the run goes on', async () => {
    const prompt = 'try to escape';
    let told: string[] = [];
    script(prompt, (n, messages) => {
      told = toolMessages(messages);
      return [
        call('read_file', { path: '../../../etc/passwd' }),
        call('read_file', { path: '/etc/shadow' }),
        call('write_file', { path: '-rf', content: 'x' }),
        call('read_file', { path: 'app\u0000.txt' }),
        call('no_such_tool', {}),
        call(`long_${'n'.repeat(5_000)}`, {}),
        answer('gave up'),
      ][n] as FakeBehaviour;
    });
    const res = await workspaceRun(prompt);
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run).toMatchObject({ status: 'succeeded', output: 'gave up' });
    expect(told).toHaveLength(6);
    for (const text of [told[0], told[1], told[3], told[4]]) expect(text).toMatch(/^Error: /);
    expect(told.join('\n')).not.toContain('root:');
    // An option-like name is a file name, never an option.
    const tools = (await steps(run.id)).filter((s) => s.kind === 'tool');
    expect(tools.map((s) => s.error !== null)).toEqual([true, true, false, true, true, true]);
    // A name no tool has is kept short: it is stored and shown.
    expect((tools[5]?.name as string).length).toBeLessThanOrEqual(128);
    expect(readFileSync(path.join(workspacesDir, run.id, '-rf'), 'utf8')).toBe('x');
  });

  test('a model that keeps calling tools ends at maxSteps, failed, keeping what it produced', async () => {
    const prompt = 'loop forever';
    script(prompt, () => call('list_files', {}));
    const res = await workspaceRun(prompt, { maxSteps: 3 });
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run).toMatchObject({ status: 'failed', error: { code: 'max_steps_reached' }, output: 'calling list_files', steps: 5 });
    expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);
  });

  test('a run that cannot pay for its next turn stops with spend_cap_reached', async () => {
    const prompt = 'spend it all';
    script(prompt, () => ({ ...call('list_files', {}), usage: { prompt_tokens: 100, completion_tokens: 30 } }));
    // Each turn is charged 10 + 30 = 40 credits (the usage reported), but a turn is begun only
    // when what it could cost by the estimate of its input (the tools' framing included) fits.
    const res = await workspaceRun(prompt, { maxCredits: 600 });
    expect(res.body.estimate).toBe(600);
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run).toMatchObject({ status: 'failed', error: { code: 'spend_cap_reached' } });
    expect(run.cost.charged).toBeLessThanOrEqual(600);
    expect(run.cost.charged + run.cost.refunded).toBe(600);
    const models = (await steps(run.id)).filter((s) => s.kind === 'model');
    expect(models.length).toBeGreaterThanOrEqual(2);
    await expectLedgerConsistent(stack, account);
  });

  test('stop during a tool call kills its process within a second and settles', async () => {
    const prompt = 'sleep in a tool';
    const marker = `agent-sleep-${process.pid}`;
    script(prompt, () => call('run_command', { command: `sleep 60; echo ${marker}` }));
    const res = await workspaceRun(prompt);
    const id = res.body.id as string;
    const deadline = Date.now() + 30_000;
    while (pidsWith(marker).length === 0 && Date.now() < deadline) await sleep(50);
    expect(pidsWith(marker).length).toBeGreaterThan(0);
    const stoppedAt = Date.now();
    expect((await stack.http.post(`/v1/runs/${id}/stop`).set(bearer(account))).status).toBe(202);
    while (pidsWith(marker).length > 0 && Date.now() - stoppedAt < 5_000) await sleep(20);
    expect(Date.now() - stoppedAt).toBeLessThan(1_000);
    const run = await waitForRun(stack, account, id, undefined, 30_000);
    expect(run.status).toBe('stopped');
    expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);
  });

  test('stop during a model turn aborts the model call and settles', async () => {
    const prompt = 'think slowly';
    script(prompt, () => ({ kind: 'stream', tokens: Array.from({ length: 200 }, (_, i) => `t${i} `), delayMs: 50 }));
    const aborted = fake.aborted;
    const res = await startRun(stack, account, { prompt, model: MODEL, maxTokens: 500, tools: ['workspace'], workspace: { repo: repo.path } });
    const id = res.body.id as string;
    await waitForRun(stack, account, id, (r) => r.output.length > 0, 30_000);
    const stoppedAt = Date.now();
    await stack.http.post(`/v1/runs/${id}/stop`).set(bearer(account));
    const run = await waitForRun(stack, account, id, undefined, 30_000);
    expect(run.status).toBe('stopped');
    expect(Date.now() - stoppedAt).toBeLessThan(3_000);
    expect(fake.aborted).toBeGreaterThan(aborted);
    expect(run.cost.charged).toBeGreaterThan(0);
    expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);
  });

  test('a 300-step run continues as new and completes with a gapless transcript', async () => {
    const prompt = 'a long loop';
    const turns = 150;
    script(prompt, (n) => (n < turns ? call('no_such_tool', { n }, `c${n}`) : answer('finished')));
    const res = await startRun(stack, account, { prompt, model: MODEL, maxTokens: 10, tools: [{ type: 'mcp', url: 'https://mcp.example.invalid/mcp' }], maxSteps: 200 });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id, undefined, 240_000);
    expect(run).toMatchObject({ status: 'succeeded', output: 'finished', steps: 2 * turns + 1 });
    const indices: number[] = [];
    for (let cursor: string | null = null; ; ) {
      const page: { body: { data: { index: number }[]; nextCursor: string | null } } = await stack.http
        .get(`/v1/runs/${run.id}/steps?limit=100${cursor ? `&cursor=${cursor}` : ''}`)
        .set(bearer(account));
      indices.push(...page.body.data.map((s) => s.index));
      cursor = page.body.nextCursor;
      if (!cursor) break;
    }
    expect(indices).toEqual(Array.from({ length: 2 * turns + 1 }, (_, i) => i));
    // The loop continued as new every 50 turns: several executions, none of them near the history limits.
    const executions = [];
    for await (const e of stack.temporal.workflow.list({ query: `WorkflowId = '${run.id}'` })) executions.push(e);
    expect(executions.length).toBeGreaterThanOrEqual(3);
    // Operators see the step count in the workflow's memo.
    const described = await stack.temporal.workflow.getHandle(run.id).describe();
    expect(await described.memo).toMatchObject({ steps: 2 * turns + 1 });
    expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);
  }, 300_000);
});

describe('agent runs in a session', () => {
  test('a request with tools uses the session\'s workspace, and its whole transcript is the next request\'s context', async () => {
    const created = await stack.http
      .post('/v1/sessions')
      .set(bearer(account))
      .send({ model: MODEL, maxTokens: 50, contextTokens: 50_000, workspace: { repo: repo.path } });
    expect(created.status).toBe(201);
    const sessionId = created.body.id as string;
    script('what is in app.txt?', (n) => (n === 0 ? call('read_file', { path: 'app.txt' }, 'call_read') : answer('it says app')));
    let context: Message[] = [];
    fake.respond((body) => {
      const messages = body.messages as Message[];
      if (messages[messages.length - 1]?.content !== 'and now?') return undefined;
      context = messages;
      return answer('still app');
    });
    const first = await stack.http.post(`/v1/sessions/${sessionId}/requests`).set(bearer(account)).send({ prompt: 'what is in app.txt?', tools: ['read_file'] });
    expect(first.status).toBe(202);
    const second = await stack.http.post(`/v1/sessions/${sessionId}/requests`).set(bearer(account)).send({ prompt: 'and now?' });
    expect(second.status).toBe(202);
    const one = await waitForRun(stack, account, first.body.runId, undefined, 60_000);
    const two = await waitForRun(stack, account, second.body.runId, undefined, 60_000);
    expect(one).toMatchObject({ status: 'succeeded', output: 'it says app', steps: 3 });
    expect(two).toMatchObject({ status: 'succeeded', output: 'still app' });
    expect(context.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'user']);
    expect(context[1]?.tool_calls?.[0]).toMatchObject({ id: 'call_read', function: { name: 'read_file' } });
    expect(context[2]).toMatchObject({ tool_call_id: 'call_read' });
    expect(String(context[2]?.content)).toContain('app');
    await stack.http.delete(`/v1/sessions/${sessionId}`).set(bearer(account));
  });
});

describe('agent runs: MCP address policy', () => {
  test('an MCP server on a private or loopback address is refused at connect time, and the model is told', async () => {
    const prompt = 'use a private mcp';
    let system = '';
    let offered = -1;
    fake.respond((body) => {
      if (body.messages.find((m) => m.role === 'user')?.content !== prompt) return undefined;
      system = body.messages.filter((m) => m.role === 'system').map((m) => String(m.content)).join('\n');
      offered = (body.tools ?? []).length;
      return answer('no tools');
    });
    const res = await startRun(stack, account, {
      prompt, model: MODEL, maxTokens: 10,
      tools: [{ type: 'mcp', url: `https://127.0.0.1:${new URL(fake.baseUrl).port}/mcp` }, { type: 'mcp', url: 'https://localhost:1/mcp' }, { type: 'mcp', url: 'https://169.254.169.254/mcp' }],
    });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run).toMatchObject({ status: 'succeeded', output: 'no tools' });
    expect(offered).toBe(0);
    for (const server of [0, 1, 2]) expect(system).toMatch(new RegExp(`MCP server ${server}: "refused by the MCP address policy`));
    // The refusal names the policy and the host the tenant gave, not the address it resolved to.
    const resolved = system.split('\n').find((line) => line.includes('MCP server 1')) ?? '';
    expect(resolved).toContain('localhost resolves to a loopback');
    expect(resolved).not.toMatch(/127\.0\.0\.1|::1/);
  });
});

describe('agent runs: admission', () => {
  test('workspace tools need a workspace; maxSteps needs tools; CLI agents take no tools; limits are enforced', async () => {
    const refuse = async (body: Record<string, unknown>, status = 400) => {
      const res = await startRun(stack, account, { prompt: 'x', model: MODEL, ...body });
      expect(res.status).toBe(status);
      return res.body as { type: string };
    };
    expect((await refuse({ tools: ['read_file'] })).type).toMatch(/invalid-agent-request/);
    expect((await refuse({ maxSteps: 3 })).type).toMatch(/invalid-agent-request/);
    expect((await refuse({ model: 'cli/nothing', tools: [{ type: 'mcp', url: 'https://mcp.example.com/' }] })).type).toMatch(/invalid-agent-request|unknown-model/);
    await refuse({ tools: ['workspace'], workspace: { repo: repo.path }, maxSteps: 501 });
    await refuse({ tools: [{ type: 'mcp', url: 'http://mcp.example.com/' }] });
    await refuse({ tools: [{ type: 'mcp', url: 'file:///etc/passwd' }] });
    await refuse({ tools: [{ type: 'mcp', url: 'https://mcp.example.com/', headers: { host: 'evil' } }] });
    await refuse({ tools: Array.from({ length: 9 }, (_, i) => ({ type: 'mcp', url: `https://m${i}.example.com/` })) });
  });

  test('the reservation is maxSteps turns unless maxCredits says otherwise; MCP headers are never shown', async () => {
    const plain = await startRun(stack, account, { prompt: 'p', model: MODEL, maxTokens: 100 });
    const agent = await startRun(stack, account, {
      prompt: 'p', model: MODEL, maxTokens: 100, maxSteps: 4,
      tools: [{ type: 'mcp', url: 'https://mcp.example.invalid/', headers: { authorization: 'Bearer very-secret-value' } }],
    });
    // Four turns, each paying for the prompt, the tools' framing and maxTokens of output.
    expect(agent.body.estimate % 4).toBe(0);
    expect(agent.body.estimate).toBeGreaterThan(plain.body.estimate * 4);
    const capped = await startRun(stack, account, { prompt: 'p', model: MODEL, maxTokens: 100, maxCredits: 1, tools: [{ type: 'mcp', url: 'https://mcp.example.invalid/' }] });
    expect(capped.body.estimate).toBe(1);
    const view = await stack.http.get(`/v1/runs/${agent.body.id}`).set(bearer(account));
    expect(JSON.stringify(view.body)).not.toContain('very-secret-value');
    const row = await stack.db.selectFrom('runs').select(['tools']).where('id', '=', agent.body.id).executeTakeFirstOrThrow();
    expect(JSON.stringify(row.tools)).not.toContain('very-secret-value');
    await waitForRun(stack, account, agent.body.id, undefined, 60_000);
    await waitForRun(stack, account, plain.body.id, undefined, 60_000);
    // Too small a cap for even one turn: the run ends before calling the model, refunded.
    expect(await waitForRun(stack, account, capped.body.id, undefined, 60_000)).toMatchObject({ status: 'failed', error: { code: 'spend_cap_reached' }, cost: { charged: 0, refunded: 1 } });
  });

  test('a plain run may set maxCredits: its output is capped by it, and too small a cap fails it before the model is called', async () => {
    const requests = fake.requests.length;
    const tiny = await startRun(stack, account, { prompt: 'too poor to answer', model: MODEL, maxTokens: 100, maxCredits: 1 });
    expect(tiny.body.estimate).toBe(1);
    const failed = await waitForRun(stack, account, tiny.body.id, undefined, 60_000);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'spend_cap_reached' }, cost: { charged: 0, refunded: 1 } });
    expect(fake.requests.slice(requests).some((r) => r.body.messages.some((m) => m.content === 'too poor to answer'))).toBe(false);

    fake.when('answer within three credits', { kind: 'stream', tokens: Array.from({ length: 20 }, (_, i) => `w${i} `), ignoreMaxTokens: true });
    const capped = await startRun(stack, account, { prompt: 'answer within three credits', model: MODEL, maxTokens: 100, maxCredits: 3 });
    const run = await waitForRun(stack, account, capped.body.id, undefined, 60_000);
    expect(run.status).toBe('succeeded');
    expect(run.truncated).toBe(true);
    expect(run.cost.charged).toBeLessThanOrEqual(3);
    expect(run.cost.charged + run.cost.refunded).toBe(3);
  });

  test('a browser token gives runs tools only when its issuer allowed them', async () => {
    const issue = async (allow?: Record<string, boolean>) => {
      const res = await stack.http
        .post('/v1/tokens')
        .set(bearer(account))
        .send({ scope: { user: 'browser-user' }, permissions: ['create', 'read'], ...(allow ? { limits: { allow } } : {}) });
      expect(res.status).toBe(201);
      return res.body.token as string;
    };
    const body = { prompt: 'p', model: MODEL, maxTokens: 5, tools: [{ type: 'mcp', url: 'https://mcp.example.invalid/' }] };
    const refused = await stack.http.post('/v1/runs').set({ authorization: `Bearer ${await issue()}` }).send(body);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ type: expect.stringMatching(/token-limit/), limit: 'tools' });
    const allowed = await stack.http.post('/v1/runs').set({ authorization: `Bearer ${await issue({ tools: true })}` }).send(body);
    expect(allowed.status).toBe(202);
    await waitForRun(stack, account, allowed.body.id, undefined, 60_000);
  });

  test('another account reads no steps of a run it does not own', async () => {
    const other = await createAccount(stack, 100);
    const res = await startRun(stack, account, { prompt: 'mine', model: MODEL, maxTokens: 5 });
    const theirs = await stack.http.get(`/v1/runs/${res.body.id}/steps`).set(bearer(other));
    expect(theirs.status).toBe(404);
    await waitForRun(stack, account, res.body.id);
  });
});
