import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { boundText, resultText } from '../src/tools/mcp-result';
import { callMcpTool, listMcpTools } from '../src/tools/mcp-tools';
import { TOOL_RESULT_MAX_BYTES, TRUNCATION_MARKER, type McpServerSpec } from '../src/tools/types';
import { startMcpServer, startStatelessMcpServer, type TestMcpServer } from './helpers/mcp-server';

/**
 * A real MCP server (the official SDK, Streamable HTTP, stateful sessions) on 127.0.0.1, which
 * requires a bearer token, and a "hung" TCP server that accepts connections and never answers.
 */
const TOKEN = 'Bearer s3cret-token-for-tests';
const state = { cancelled: 0, sleepers: new Set<NodeJS.Timeout>() };

function buildServer(): McpServer {
  const server = new McpServer({ name: 'test', version: '1.0.0' });
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => text(String(a + b)));
  server.registerTool('echo', { description: 'Echoes', inputSchema: { text: z.string() } }, async ({ text: t }) => text(t));
  server.registerTool('fail', { description: 'Always fails' }, async () => ({ content: [{ type: 'text' as const, text: 'it broke' }], isError: true }));
  server.registerTool('huge', { description: '100 KB' }, async () => text('x'.repeat(100 * 1024)));
  server.registerTool('mixed', { description: 'Text and an image' }, async () => ({
    content: [{ type: 'text' as const, text: 'see:' }, { type: 'image' as const, data: 'aGk=', mimeType: 'image/png' }],
  }));
  server.registerTool('sleep', { description: 'Sleeps until cancelled' }, async (extra) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(text('woke')), 30_000);
      state.sleepers.add(timer);
      extra.signal.addEventListener('abort', () => {
        state.cancelled++;
        clearTimeout(timer);
        resolve(text('cancelled'));
      });
    }),
  );
  // Dropped by listMcpTools: a name providers refuse, and a name a workspace tool has.
  server.registerTool('bad.name', { description: 'Bad name' }, async () => text('no'));
  server.registerTool('read_file', { description: 'Shadows a workspace tool' }, async () => text('no'));
  return server;
}


let mcp: TestMcpServer;
let hung: net.Server;
const hungSockets = new Set<net.Socket>();
let url: string;
let hungUrl: string;
const open = { allowPrivate: true };

beforeAll(async () => {
  mcp = await startMcpServer(buildServer, { token: TOKEN });
  url = mcp.url;
  hung = net.createServer((socket) => {
    // Reads (so that it sees the client's close), never answers.
    hungSockets.add(socket);
    socket.resume();
    socket.once('close', () => hungSockets.delete(socket));
  });
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  hungUrl = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  for (const timer of state.sleepers) clearTimeout(timer);
  for (const socket of hungSockets) socket.destroy();
  await mcp.stop();
  await new Promise((resolve) => hung.close(resolve));
});

const spec = (extra: Partial<McpServerSpec> = {}): McpServerSpec => ({ url, headers: { Authorization: TOKEN }, ...extra });
const call = (name: string, args: string, options: { signal?: AbortSignal; timeoutMs?: number; allowPrivate?: boolean; server?: McpServerSpec } = {}) =>
  callMcpTool(options.server ?? spec(), name, args, {
    allowPrivate: options.allowPrivate ?? true,
    timeoutMs: options.timeoutMs,
    signal: options.signal ?? new AbortController().signal,
  });

describe('listMcpTools', () => {
  it('lists the tools with their schemas, dropping invalid and reserved names, with the headers sent', async () => {
    const { tools, errors } = await listMcpTools([spec()], open);
    expect(tools.map((t) => t.name)).toEqual(['add', 'echo', 'fail', 'huge', 'mixed', 'sleep']);
    const add = tools[0];
    expect(add).toMatchObject({ server: 0, description: 'Adds two numbers', parameters: { type: 'object', required: ['a', 'b'] } });
    expect(errors.map((e) => e.server)).toEqual([0, 0]);
    expect(errors[0]?.error).toMatch(/tool name is not 1-64/);
    expect(errors[1]?.error).toMatch(/read_file: the name is taken/);
  });

  it('keeps only allowedTools, and says which allowed names the server lacks', async () => {
    const { tools, errors } = await listMcpTools([spec({ allowedTools: ['echo', 'add', 'nope'] })], open);
    expect(tools.map((t) => t.name)).toEqual(['add', 'echo']);
    expect(errors).toEqual([{ server: 0, error: 'allowedTools names tools the server does not offer: nope' }]);
  });

  it('keeps the first holder of a name when two servers offer it', async () => {
    const { tools, errors } = await listMcpTools([spec({ allowedTools: ['echo'] }), spec({ allowedTools: ['echo', 'add'] })], open);
    expect(tools.map((t) => [t.name, t.server])).toEqual([['echo', 0], ['add', 1]]);
    expect(errors).toEqual([{ server: 1, error: 'tool echo: the name is taken by an earlier tool: tool dropped' }]);
  });

  it('gives an error entry, never a throw, for a server that refuses, hangs or is not there; the others still list', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/mcp`;
    await new Promise((resolve) => closed.close(resolve));
    const started = Date.now();
    const { tools, errors } = await listMcpTools(
      [{ url: hungUrl }, spec({ headers: { Authorization: 'Bearer wrong-token-123' } }), { url: closedUrl }, spec({ allowedTools: ['add'] })],
      { allowPrivate: true, timeoutMs: 1500 },
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(tools.map((t) => [t.name, t.server])).toEqual([['add', 3]]);
    expect(errors.map((e) => e.server)).toEqual([0, 1, 2]);
    expect(errors[0]?.error).toMatch(/did not (answer|complete its handshake) within/);
    expect(errors[1]?.error).toMatch(/401/);
    expect(errors[1]?.error).not.toContain('wrong-token-123');
    expect(errors[2]?.error).toBe(`ECONNREFUSED: connecting to ${new URL(closedUrl).host} failed`);
  });

  it('refuses loopback servers unless private addresses are allowed, naming the policy, not the address', async () => {
    const port = (mcp.server.address() as AddressInfo).port;
    const { tools, errors } = await listMcpTools([spec(), spec({ url: `http://localhost:${port}/mcp` })], { allowPrivate: false });
    expect(tools).toEqual([]);
    expect(errors.map((e) => e.server)).toEqual([0, 1]);
    for (const { error } of errors) expect(error).toMatch(/^refused by the MCP address policy/);
    expect(errors[1]?.error).not.toMatch(/127\.0\.0\.1|::1/);
  });

  it('connects to the address the policy checked: its own resolution, not a second one', async () => {
    const port = (mcp.server.address() as AddressInfo).port;
    const resolve = async () => [{ address: '127.0.0.1', family: 4 }];
    const server = spec({ url: `http://mcp.runway.test:${port}/mcp`, allowedTools: ['add'] });
    expect((await listMcpTools([server], { allowPrivate: true, resolve })).tools.map((t) => t.name)).toEqual(['add']);
    const { errors } = await listMcpTools([server], { allowPrivate: false, resolve });
    expect(errors).toEqual([
      { server: 0, error: 'refused by the MCP address policy (no loopback, private, link-local or reserved addresses): mcp.runway.test resolves to a loopback, private, link-local or reserved address' },
    ]);
  });

  it('refuses a response body larger than the bound', async () => {
    const flood = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const write = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', write);
      };
      write();
    });
    await new Promise<void>((resolve) => flood.listen(0, '127.0.0.1', resolve));
    try {
      const { errors } = await listMcpTools([{ url: `http://127.0.0.1:${(flood.address() as AddressInfo).port}/` }], open);
      expect(errors[0]?.error).toMatch(/response is larger than 4194304 bytes/);
    } finally {
      flood.closeAllConnections();
      await new Promise((resolve) => flood.close(resolve));
    }
  });

  it('refuses bad specs without connecting, never quoting a header value', async () => {
    const { errors } = await listMcpTools(
      [{ url: 'ftp://example.com/' }, { url: 'http://u:p@example.com/' }, { url, headers: { 'X-Key': 'sec\nret-value' } }, { url, headers: { Host: 'x' } }],
      open,
    );
    expect(errors.map((e) => e.error)).toEqual([
      'the MCP server URL must be http or https',
      'credentials in the MCP server URL are not allowed (send them as headers)',
      expect.stringMatching(/header x-key is not a valid header value/),
      'the MCP server header host is set by Runway',
    ]);
    expect(JSON.stringify(errors)).not.toContain('ret-value');
  });
});

describe('callMcpTool', () => {
  it('calls a tool and returns its text', async () => {
    expect(await call('add', '{"a": 2, "b": 40}')).toEqual({ result: '42', truncated: false, sandboxMs: 0 });
    expect(await call('echo', JSON.stringify({ text: 'héllo\u0000' }))).toMatchObject({ result: 'héllo\uFFFD' });
    expect(await call('mixed', '')).toMatchObject({ result: 'see:\n[image: image/png]' });
  });

  it('turns isError, invalid arguments and unknown tools into error outcomes', async () => {
    expect(await call('fail', '{}')).toEqual({ result: '', truncated: false, error: 'it broke', sandboxMs: 0 });
    expect((await call('add', '{"a": 1,')).error).toBe('the arguments are not valid JSON');
    expect((await call('add', '[1, 2]')).error).toBe('the arguments must be a JSON object');
    expect((await call('add', '{"a": "x", "b": 1}')).error).toMatch(/^MCP error -32602: Input validation error/);
    expect((await call('nope', '{}')).error).toBe('MCP error -32602: Tool nope not found');
    expect((await call('add', '{}', { server: spec({ allowedTools: ['echo'] }) })).error).toBe('no such tool on this MCP server');
  });

  it('cuts a huge result at TOOL_RESULT_MAX_BYTES with the marker', async () => {
    const outcome = await call('huge', '{}');
    expect(outcome.truncated).toBe(true);
    expect(outcome.result.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(Buffer.byteLength(outcome.result)).toBeLessThanOrEqual(TOOL_RESULT_MAX_BYTES);
    expect(outcome.result.startsWith('xxxx')).toBe(true);
  });

  it('gives an error outcome within the timeout for a server that never answers', async () => {
    const started = Date.now();
    const outcome = await call('add', '{}', { server: { url: hungUrl }, timeoutMs: 800 });
    expect(outcome.error).toMatch(/did not (answer|complete its handshake) within 800 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
    // The client closes its sockets (after the moment it leaves for the cancellation).
    expect(hungSockets.size).toBeGreaterThan(0);
    await waitFor(() => hungSockets.size === 0);
  });

  it('times out a slow tool', async () => {
    const outcome = await call('sleep', '{}', { timeoutMs: 1000 });
    expect(outcome.error).toBe('the MCP server did not answer within 1000 ms');
  });

  it('rejects at once, with the reason, when the signal aborts, and the server hears of the cancellation', async () => {
    const stop = new AbortController();
    const before = state.cancelled;
    setTimeout(() => stop.abort(new Error('run stopped')), 300);
    const started = Date.now();
    await expect(call('sleep', '{}', { signal: stop.signal })).rejects.toThrow('run stopped');
    expect(Date.now() - started).toBeLessThan(1000);
    await waitFor(() => state.cancelled > before);
    // Aborted before it starts: no connection at all.
    await expect(call('add', '{}', { signal: stop.signal })).rejects.toThrow('run stopped');
  });

  it('refuses a loopback server unless private addresses are allowed', async () => {
    const port = (mcp.server.address() as AddressInfo).port;
    for (const server of [spec(), spec({ url: `http://localhost:${port}/mcp` })]) {
      const outcome = await call('add', '{"a": 1, "b": 2}', { server, allowPrivate: false });
      expect(outcome.error).toMatch(/^refused by the MCP address policy/);
      expect(outcome.result).toBe('');
    }
    const outcome = await call('add', '{"a": 1, "b": 2}', { server: spec({ url: `http://localhost:${port}/mcp` }), allowPrivate: false });
    expect(outcome.error).not.toMatch(/127\.0\.0\.1|::1/);
  });

  it('leaves no connection open', async () => {
    await call('add', '{"a": 1, "b": 2}');
    await waitFor(async () => (await new Promise<number>((resolve) => mcp.server.getConnections((_e, n) => resolve(n)))) === 0);
  });
});

describe('result text', () => {
  it('cuts at a character boundary, within the byte bound, marker included', () => {
    for (const text of ['é'.repeat(20_000), '😀'.repeat(10_000), `a${'€'.repeat(9000)}`]) {
      const { text: cut, truncated } = boundText(text);
      expect(truncated).toBe(true);
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(TOOL_RESULT_MAX_BYTES);
      expect(Buffer.byteLength(cut)).toBeGreaterThan(TOOL_RESULT_MAX_BYTES - 8);
      expect(cut).not.toContain('\uFFFD');
      expect(cut.endsWith(TRUNCATION_MARKER)).toBe(true);
    }
    expect(boundText('x'.repeat(TOOL_RESULT_MAX_BYTES))).toEqual({ text: 'x'.repeat(TOOL_RESULT_MAX_BYTES), truncated: false });
    expect(boundText('a\u0000\uD800b')).toEqual({ text: 'a\uFFFD\uFFFDb', truncated: false });
  });

  it('describes non-text blocks and falls back to structured content', () => {
    expect(resultText({ content: [{ type: 'resource_link', uri: 'file:///a', name: 'a' }, { type: 'audio', mimeType: 'audio/wav' }, null, { type: 'other' }] })).toBe(
      '[resource link: file:///a (a)]\n[audio: audio/wav]\n[unknown content]\n[other content]',
    );
    expect(resultText({ content: [], structuredContent: { n: 1 } })).toBe('{"n":1}');
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('listing bounds', () => {
  test('a server offering more than 256 KiB of tool definitions is cut there, with an error entry', async () => {
    // Twelve tools of about 25 KiB of schema each: each under the per-tool bound, 300 KiB together.
    const fields = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`field_${i}_${'x'.repeat(40)}`, z.string()]));
    const big = await startStatelessMcpServer(() => {
      const server = new McpServer({ name: 'big', version: '1.0.0' });
      for (let i = 0; i < 12; i++) server.registerTool(`big_${i}`, { description: 'big', inputSchema: fields }, async () => ({ content: [] }));
      return server;
    });
    try {
      const { tools, errors } = await listMcpTools([{ url: big.url }], open);
      const bytes = tools.reduce((sum, t) => sum + Buffer.byteLength(JSON.stringify(t)), 0);
      expect(tools.length).toBeGreaterThan(5);
      expect(tools.length).toBeLessThan(12);
      expect(bytes).toBeLessThanOrEqual(256 * 1024);
      expect(errors.some((e) => /256 KiB per server/.test(e.error))).toBe(true);
    } finally {
      await big.stop();
    }
  });
});

describe('header secrets in results', () => {
  test('a tool that echoes the request\'s headers (plain, as JSON, URL-encoded) shows none of the run\'s header secrets', async () => {
    const secret = 'abc"def\\ghi-12345';
    const echo = await startStatelessMcpServer((req) => {
      const server = new McpServer({ name: 'echo-headers', version: '1.0.0' });
      const seen = JSON.stringify(req.headers);
      server.registerTool('whoami', { description: 'echoes headers' }, async () => ({
        content: [{ type: 'text' as const, text: `${seen} ${String(req.headers['x-key'])} ${encodeURIComponent(String(req.headers['x-key']))}` }],
      }));
      return server;
    });
    try {
      const outcome = await callMcpTool({ url: echo.url, headers: { 'x-key': secret } }, 'whoami', '{}', { ...open, signal: new AbortController().signal });
      expect(outcome.error).toBeUndefined();
      expect(outcome.result).toContain('[redacted]');
      for (const form of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]) expect(outcome.result).not.toContain(form);
    } finally {
      await echo.stop();
    }
  });
});
