import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { bearer, createAccount, expectLedgerConsistent, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeOpenAi, type FakeBehaviour, type RecordedRequest } from './helpers/fake-openai';
import { startMcpServer, type TestMcpServer } from './helpers/mcp-server';
import { startStack, type TestStack } from './helpers/stack';

const PRICE = { input: 100, output: 1000 };
const MODEL = 'openai/agent';
const TOKEN = 'Bearer mcp-secret-for-agent-tests';

/** A real MCP server (the official SDK over Streamable HTTP) that counts its calls and can sleep until cancelled. */
const calls = { add: 0, cancelled: 0, sleeping: 0 };
function buildServer(): McpServer {
  const server = new McpServer({ name: 'agent-test', version: '1.0.0' });
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => {
    calls.add++;
    return text(String(a + b));
  });
  server.registerTool('sleep', { description: 'Sleeps until cancelled' }, async (extra) =>
    new Promise((resolve) => {
      calls.sleeping++;
      const timer = setTimeout(() => resolve(text('woke')), 60_000);
      extra.signal.addEventListener('abort', () => {
        calls.cancelled++;
        clearTimeout(timer);
        resolve(text('cancelled'));
      });
    }),
  );
  server.registerTool('hidden', { description: 'Not allowed for the run' }, async () => text('should not be called'));
  return server;
}


let stack: TestStack;
let account: TestAccount;
let mcp: TestMcpServer;
let mcpUrl: string;
let hung: net.Server;
let hungUrl: string;
const hungSockets = new Set<net.Socket>();
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['unscripted'] });

beforeAll(async () => {
  await fake.start();
  mcp = await startMcpServer(buildServer, { token: TOKEN });
  mcpUrl = mcp.url;
  hung = net.createServer((socket) => {
    hungSockets.add(socket);
    socket.resume();
    socket.on('close', () => hungSockets.delete(socket));
  });
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  hungUrl = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/mcp`;
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_PRICES: JSON.stringify({ [MODEL]: PRICE }),
      // The test's servers are on loopback: allowed here, as an operator may in development.
      RUNWAY_MCP_ALLOW_PRIVATE: 'true',
      RUNWAY_MCP_TIMEOUT_MS: '1500',
    },
  });
  account = await createAccount(stack, 1_000_000);
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
  await mcp?.stop();
  for (const socket of hungSockets) socket.destroy();
  await new Promise((resolve) => hung?.close(resolve));
});

type Body = RecordedRequest['body'];
function script(prompt: string, turn: (n: number, body: Body) => FakeBehaviour): void {
  fake.respond((body) => {
    if (body.messages.find((m) => m.role === 'user')?.content !== prompt) return undefined;
    return turn(body.messages.filter((m) => m.role === 'assistant').length, body);
  });
}
const call = (name: string, args: Record<string, unknown>): FakeBehaviour => ({ kind: 'stream', tokens: [], toolCalls: [{ name, arguments: JSON.stringify(args) }] });
const toolResults = (body: Body) => body.messages.filter((m) => m.role === 'tool').map((m) => String(m.content));
const server = (url: string, extra: Record<string, unknown> = {}) => ({ type: 'mcp', url, headers: { authorization: TOKEN }, ...extra });

describe('agent runs with MCP servers', () => {
  test('the tools a real MCP server lists are offered (allowedTools kept), called once each, and their results reach the model', async () => {
    const prompt = 'add with mcp';
    const offered: string[][] = [];
    let told: string[] = [];
    script(prompt, (n, body) => {
      offered.push((body.tools ?? []).map((t) => (t as { function: { name: string } }).function.name));
      told = toolResults(body);
      return [call('add', { a: 2, b: 40 }), call('hidden', {}), { kind: 'stream', tokens: ['the answer is ', '42'] } as FakeBehaviour][n] as FakeBehaviour;
    });
    const before = calls.add;
    const res = await startRun(stack, account, { prompt, model: MODEL, maxTokens: 20, tools: [server(mcpUrl, { allowedTools: ['add', 'sleep'] })] });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run).toMatchObject({ status: 'succeeded', output: 'the answer is 42', steps: 5 });
    expect(offered.every((names) => names.sort().join() === 'add,sleep')).toBe(true);
    expect(calls.add - before).toBe(1);
    expect(told[0]).toBe('42');
    expect(told[1]).toMatch(/^Error: there is no tool named "hidden"/);
    // The server's secret header never shows: not in the run, its steps or its events.
    const steps = await stack.http.get(`/v1/runs/${run.id}/steps`).set(bearer(account));
    const events = await stack.db.selectFrom('run_events').select('data').where('run_id', '=', run.id).execute();
    for (const text of [JSON.stringify(run), JSON.stringify(steps.body), JSON.stringify(events)]) expect(text).not.toContain('mcp-secret');
    await expectLedgerConsistent(stack, account);
  });

  test('a hung server fails its listing and its calls with errors the model sees; the run goes on', async () => {
    const prompt = 'hung mcp';
    let system = '';
    script(prompt, (n, body) => {
      system = body.messages.filter((m) => m.role === 'system').map((m) => String(m.content)).join('\n');
      return n === 0 ? { kind: 'stream', tokens: ['no tools then'] } : { kind: 'stream', tokens: ['?'] };
    });
    const started = Date.now();
    const res = await startRun(stack, account, { prompt, model: MODEL, maxTokens: 20, tools: [server(hungUrl), server(mcpUrl)] });
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run).toMatchObject({ status: 'succeeded', output: 'no tools then' });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(system).toMatch(/Some tools are unavailable \(each reason quoted\):\n- MCP server 0: "/);
    expect(system).not.toContain('MCP server 1');
  });

  test('a server that stops answering mid-run fails that call only', async () => {
    const prompt = 'sleepy mcp';
    let told: string[] = [];
    script(prompt, (n, body) => {
      told = toolResults(body);
      return n === 0 ? call('sleep', {}) : { kind: 'stream', tokens: ['moved on'] };
    });
    const res = await startRun(stack, account, { prompt, model: MODEL, maxTokens: 20, tools: [server(mcpUrl)] });
    const run = await waitForRun(stack, account, res.body.id, undefined, 60_000);
    expect(run).toMatchObject({ status: 'succeeded', output: 'moved on' });
    expect(told[0]).toMatch(/^Error: /);
  });

  test('stop during an MCP call cancels it at the server within a second and settles', async () => {
    const prompt = 'stop the mcp call';
    script(prompt, () => call('sleep', {}));
    // A run of its own with a long MCP time limit is not possible per run; the call is stopped well within the 1.5 s limit.
    const sleepingBefore = calls.sleeping;
    const cancelledBefore = calls.cancelled;
    const res = await startRun(stack, account, { prompt, model: MODEL, maxTokens: 20, tools: [server(mcpUrl)] });
    const deadline = Date.now() + 30_000;
    while (calls.sleeping === sleepingBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const stoppedAt = Date.now();
    await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    while (calls.cancelled === cancelledBefore && Date.now() - stoppedAt < 5_000) await new Promise((r) => setTimeout(r, 20));
    expect(calls.cancelled).toBeGreaterThan(cancelledBefore);
    expect(Date.now() - stoppedAt).toBeLessThan(1_000);
    const run = await waitForRun(stack, account, res.body.id, undefined, 30_000);
    expect(run.status).toBe('stopped');
    expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);
  });
});
