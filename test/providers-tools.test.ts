import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AnthropicProvider } from '../src/providers/anthropic';
import { estimateByBytes, estimateOpenAiTokens, TOOLS_FRAMING_TOKENS } from '../src/providers/estimate-tokens';
import { OpenAiProvider } from '../src/providers/openai';
import { MAX_TOOL_CALL_BYTES } from '../src/providers/tool-calls';
import type { ModelCall, ModelChunk, ModelMessage, ModelProvider, ToolSpec } from '../src/providers/types';
import { ProviderError } from '../src/providers/types';
import { FakeAnthropic } from './helpers/fake-anthropic';
import { FakeOpenAi } from './helpers/fake-openai';

const TOOLS: ToolSpec[] = [
  {
    name: 'read_file',
    description: 'Reads a file of the workspace',
    parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  },
  { name: 'list_dir', description: 'Lists a folder', parameters: { type: 'object', properties: { path: { type: 'string' } } } },
];
const CALLS = [
  { id: 'call_a', name: 'read_file', arguments: '{"path":"src/index.ts","note":"a longer argument text to split"}' },
  { id: 'call_b', name: 'list_dir', arguments: '{"path":"test"}' },
];

/** A conversation after one tool-calling turn: the assistant's calls, then both answers. */
const FOLLOW_UP: ModelMessage[] = [
  { role: 'system', content: 'be brief' },
  { role: 'user', content: 'look around' },
  { role: 'assistant', content: 'Looking.', toolCalls: CALLS },
  { role: 'tool', toolCallId: 'call_a', name: 'read_file', content: 'export {}' },
  { role: 'tool', toolCallId: 'call_b', name: 'list_dir', content: 'a.test.ts' },
];

async function collect(provider: ModelProvider, call: Partial<ModelCall> & Pick<ModelCall, 'model'>): Promise<ModelChunk[]> {
  const chunks: ModelChunk[] = [];
  const full: ModelCall = { messages: [{ role: 'user', content: 'look around' }], maxOutputTokens: 100, signal: new AbortController().signal, ...call };
  for await (const chunk of provider.stream(full)) chunks.push(chunk);
  return chunks;
}

const toolCallsOf = (chunks: ModelChunk[]) => chunks.flatMap((c) => (c.type === 'tool_call' ? [c.call] : []));
const textOf = (chunks: ModelChunk[]) => chunks.flatMap((c) => (c.type === 'delta' ? [c.text] : [])).join('');

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

/** Arguments over the per-turn bound, in one call. */
const HUGE_ARGUMENTS = `{"text":"${'x'.repeat(MAX_TOOL_CALL_BYTES)}"}`;

describe('tool calling over the OpenAI Chat Completions stream', () => {
  const fake = new FakeOpenAi();
  let provider: OpenAiProvider;
  beforeAll(async () => {
    await fake.start();
    provider = new OpenAiProvider({ baseUrl: fake.baseUrl, apiKey: 'sk-test', idleTimeoutMs: 5000 });
  });
  afterAll(() => fake.stop());

  test('text, then two parallel calls reassembled from interleaved fragments, finish tool_calls, usage', async () => {
    fake.enqueue({ kind: 'stream', tokens: ['Let me ', 'look.'], toolCalls: CALLS, usage: { prompt_tokens: 40, completion_tokens: 12 } });
    const chunks = await collect(provider, { model: 'openai/m', tools: TOOLS });
    expect(chunks.filter((c) => c.type === 'delta')).toEqual([
      { type: 'delta', text: 'Let me ' },
      { type: 'delta', text: 'look.' },
    ]);
    expect(chunks.slice(2)).toEqual([
      { type: 'tool_call', call: CALLS[0] },
      { type: 'tool_call', call: CALLS[1] },
      { type: 'finish', reason: 'tool_calls' },
      { type: 'usage', usage: { inputTokens: 40, outputTokens: 12 } },
    ]);
    expect(fake.requests.at(-1)?.body.tools).toEqual([
      { type: 'function', function: { name: 'read_file', description: TOOLS[0]?.description, parameters: TOOLS[0]?.parameters } },
      { type: 'function', function: { name: 'list_dir', description: TOOLS[1]?.description, parameters: TOOLS[1]?.parameters } },
    ]);
  });

  test('a follow-up sends the calls on the assistant turn and each answer as a tool message', async () => {
    fake.enqueue({ kind: 'stream', tokens: ['Done.'] });
    const chunks = await collect(provider, { model: 'openai/m', tools: TOOLS, messages: FOLLOW_UP });
    expect(textOf(chunks)).toBe('Done.');
    expect(chunks.at(-2)).toEqual({ type: 'finish', reason: 'stop' });
    expect(fake.requests.at(-1)?.body.messages).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'look around' },
      {
        role: 'assistant',
        content: 'Looking.',
        tool_calls: CALLS.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
      },
      { role: 'tool', tool_call_id: 'call_a', content: 'export {}' },
      { role: 'tool', tool_call_id: 'call_b', content: 'a.test.ts' },
    ]);
  });

  test('an assistant turn of calls only sends null content', async () => {
    const messages: ModelMessage[] = [{ role: 'user', content: 'go' }, { role: 'assistant', content: '', toolCalls: [CALLS[1]!] }];
    await collect(provider, { model: 'openai/m', messages: [...messages, { role: 'tool', toolCallId: 'call_b', name: 'list_dir', content: '' }] });
    expect(fake.requests.at(-1)?.body.messages[1]).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_b', type: 'function', function: { name: 'list_dir', arguments: '{"path":"test"}' } }],
    });
  });

  test('calls are chosen by a responder over the conversation so far', async () => {
    const stop = fake.respond((body) =>
      body.messages.some((m) => m.role === 'tool') ? { kind: 'stream', tokens: ['all read'] } : { kind: 'stream', tokens: [], toolCalls: [CALLS[1]!] },
    );
    try {
      const first = await collect(provider, { model: 'openai/m', tools: TOOLS });
      expect(toolCallsOf(first)).toEqual([CALLS[1]]);
      expect(first).toContainEqual({ type: 'finish', reason: 'tool_calls' });
      const second = await collect(provider, { model: 'openai/m', tools: TOOLS, messages: FOLLOW_UP });
      expect(textOf(second)).toBe('all read');
    } finally {
      stop();
    }
  });

  test('a server that says stop after tool calls still finishes with tool_calls', async () => {
    fake.enqueue({ kind: 'stream', tokens: [], toolCalls: [CALLS[1]!], finish: 'stop' });
    const chunks = await collect(provider, { model: 'openai/m', tools: TOOLS });
    expect(toolCallsOf(chunks)).toEqual([CALLS[1]]);
    expect(chunks).toContainEqual({ type: 'finish', reason: 'tool_calls' });
  });

  test('tool-call arguments over the bound fail the call, not retryable', async () => {
    fake.enqueue({ kind: 'stream', tokens: [], toolCalls: [{ name: 'read_file', arguments: HUGE_ARGUMENTS }] });
    const err = await failure(collect(provider, { model: 'openai/m', tools: TOOLS }));
    expect(err.code).toBe('provider_bad_tool_call');
    expect(err.retryable).toBe(false);
  });

  test('a call without tools sends no tools field and plain messages', async () => {
    fake.enqueue({ kind: 'stream', tokens: ['hi'] });
    const chunks = await collect(provider, { model: 'openai/m', tools: [] });
    expect(chunks).toContainEqual({ type: 'finish', reason: 'stop' });
    const body = fake.requests.at(-1)?.body;
    expect(body && 'tools' in body).toBe(false);
    expect(body?.messages).toEqual([{ role: 'user', content: 'look around' }]);
  });
});

describe('tool calling over the Anthropic Messages stream', () => {
  const fake = new FakeAnthropic();
  let provider: AnthropicProvider;
  beforeAll(async () => {
    await fake.start();
    provider = new AnthropicProvider({ baseUrl: fake.baseUrl, apiKey: 'sk-ant-test', idleTimeoutMs: 5000 });
  });
  afterAll(() => fake.stop());

  test('text, then two tool_use blocks reassembled from input_json_delta, finish tool_calls, usage', async () => {
    fake.enqueue({ kind: 'stream', tokens: ['Let me ', 'look.'], toolCalls: CALLS, usage: { input_tokens: 50, output_tokens: 14 } });
    const chunks = await collect(provider, { model: 'anthropic/m', tools: TOOLS });
    expect(textOf(chunks)).toBe('Let me look.');
    expect(toolCallsOf(chunks)).toEqual(CALLS);
    const after = chunks.slice(chunks.findIndex((c) => c.type === 'tool_call'));
    expect(after.map((c) => c.type)).toEqual(['tool_call', 'tool_call', 'usage', 'finish']);
    expect(chunks.at(-1)).toEqual({ type: 'finish', reason: 'tool_calls' });
    expect(chunks.at(-2)).toEqual({ type: 'usage', usage: { inputTokens: 50, outputTokens: 14 } });
    expect(fake.requests.at(-1)?.body.tools).toEqual(TOOLS.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters })));
  });

  test('a turn of calls only, with no text block; an empty input is {}', async () => {
    fake.enqueue({ kind: 'stream', tokens: [], toolCalls: [{ id: 'toolu_1', name: 'list_dir', arguments: '' }] });
    const chunks = await collect(provider, { model: 'anthropic/m', tools: TOOLS });
    expect(toolCallsOf(chunks)).toEqual([{ id: 'toolu_1', name: 'list_dir', arguments: '{}' }]);
    expect(textOf(chunks)).toBe('');
  });

  test('a follow-up sends tool_use blocks and all the answers as tool_result blocks of one user turn', async () => {
    fake.enqueue({ kind: 'stream', tokens: ['Done.'] });
    const broken = { id: 'call_c', name: 'read_file', arguments: '{"path": "unterminated' };
    const messages: ModelMessage[] = [
      ...FOLLOW_UP,
      { role: 'assistant', content: '', toolCalls: [broken] },
      { role: 'tool', toolCallId: 'call_c', name: 'read_file', content: 'error: arguments are not JSON' },
    ];
    const chunks = await collect(provider, { model: 'anthropic/m', tools: TOOLS, messages });
    expect(chunks.at(-1)).toEqual({ type: 'finish', reason: 'stop' });
    const body = fake.requests.at(-1)?.body;
    expect(body?.system).toBe('be brief');
    expect(body?.messages).toEqual([
      { role: 'user', content: 'look around' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Looking.' },
          { type: 'tool_use', id: 'call_a', name: 'read_file', input: { path: 'src/index.ts', note: 'a longer argument text to split' } },
          { type: 'tool_use', id: 'call_b', name: 'list_dir', input: { path: 'test' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_a', content: 'export {}' },
          { type: 'tool_result', tool_use_id: 'call_b', content: 'a.test.ts' },
        ],
      },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_c', name: 'read_file', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_c', content: 'error: arguments are not JSON' }] },
    ]);
  });

  test('calls are chosen by a responder over the conversation so far', async () => {
    const answered = (body: { messages: { content: unknown }[] }) =>
      body.messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as { type: string }[]) : [])).filter((b) => b.type === 'tool_result').length;
    const stop = fake.respond((body) => (answered(body) >= 2 ? { kind: 'stream', tokens: ['all read'] } : { kind: 'stream', tokens: [], toolCalls: CALLS }));
    try {
      expect(toolCallsOf(await collect(provider, { model: 'anthropic/m', tools: TOOLS }))).toEqual(CALLS);
      expect(textOf(await collect(provider, { model: 'anthropic/m', tools: TOOLS, messages: FOLLOW_UP }))).toBe('all read');
    } finally {
      stop();
    }
  });

  test('tool-call arguments over the bound fail the call, not retryable', async () => {
    fake.enqueue({ kind: 'stream', tokens: [], toolCalls: [{ name: 'read_file', arguments: HUGE_ARGUMENTS }] });
    const err = await failure(collect(provider, { model: 'anthropic/m', tools: TOOLS }));
    expect(err.code).toBe('provider_bad_tool_call');
    expect(err.retryable).toBe(false);
  });

  test('a call without tools sends no tools field and plain messages', async () => {
    fake.enqueue({ kind: 'stream', tokens: ['hi'] });
    await collect(provider, { model: 'anthropic/m' });
    const body = fake.requests.at(-1)?.body;
    expect(body && 'tools' in body).toBe(false);
    expect(body?.messages).toEqual([{ role: 'user', content: 'look around' }]);
  });
});

/** A server answering every request with these raw SSE `data:` payloads, for shapes the fakes never send. */
async function rawServer(payloads: () => unknown[]): Promise<{ baseUrl: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const p of payloads()) res.write(`data: ${typeof p === 'string' ? p : JSON.stringify(p)}\n\n`);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('OpenAI-compatible servers that stream tool calls their own way', () => {
  let payloads: unknown[] = [];
  let server: Awaited<ReturnType<typeof rawServer>>;
  let provider: OpenAiProvider;
  beforeAll(async () => {
    server = await rawServer(() => payloads);
    provider = new OpenAiProvider({ baseUrl: server.baseUrl, idleTimeoutMs: 5000 });
  });
  afterAll(() => server.close());
  const delta = (d: unknown, finish: string | null = null) => ({ choices: [{ index: 0, delta: d, finish_reason: finish }] });

  test('calls without index: a new id starts the next call, deltas without one continue it; a missing id is made up', async () => {
    payloads = [
      delta({ tool_calls: [{ id: 'x1', function: { name: 'read_file', arguments: '{"path":' } }] }),
      delta({ tool_calls: [{ function: { arguments: '"a"}' } }] }),
      delta({ tool_calls: [{ id: 'x2', function: { name: 'list_dir', arguments: '{}' } }] }),
      delta({ tool_calls: [{ index: 5, function: { name: 'list_dir', arguments: null } }] }),
      delta({}, 'tool_calls'),
      '[DONE]',
    ];
    const calls = toolCallsOf(await collect(provider, { model: 'openai/m', tools: TOOLS }));
    expect(calls.slice(0, 2)).toEqual([
      { id: 'x1', name: 'read_file', arguments: '{"path":"a"}' },
      { id: 'x2', name: 'list_dir', arguments: '{}' },
    ]);
    expect(calls[2]).toMatchObject({ name: 'list_dir', arguments: '{}' });
    expect(calls[2]?.id).toMatch(/^call_./);
  });

  test('arguments that are not text, or a call without a name, fail the call', async () => {
    payloads = [delta({ tool_calls: [{ index: 0, id: 'x', function: { name: 'read_file', arguments: { path: 'a' } } }] }), delta({}, 'tool_calls')];
    expect((await failure(collect(provider, { model: 'openai/m', tools: TOOLS }))).code).toBe('provider_bad_tool_call');
    payloads = [delta({ tool_calls: [{ index: 0, id: 'x', function: { arguments: '{}' } }] }), delta({}, 'tool_calls')];
    expect((await failure(collect(provider, { model: 'openai/m', tools: TOOLS }))).code).toBe('provider_bad_tool_call');
  });

  test('more calls than a turn may make fail the call', async () => {
    const many = Array.from({ length: 200 }, (_, index) => ({ index, id: `c${index}`, function: { name: 'list_dir', arguments: '{}' } }));
    payloads = [delta({ tool_calls: many }), delta({}, 'tool_calls')];
    expect((await failure(collect(provider, { model: 'openai/m', tools: TOOLS }))).code).toBe('provider_bad_tool_call');
  });
});

describe('input estimates with tools', () => {
  const plain: ModelMessage[] = [{ role: 'user', content: 'look around' }];

  test('tool definitions, tool calls and tool answers all count', () => {
    for (const estimate of [(m: ModelMessage[], t?: ToolSpec[]) => estimateByBytes(m, t), (m: ModelMessage[], t?: ToolSpec[]) => estimateOpenAiTokens(m, 'gpt-4o', t)]) {
      expect(estimate(plain, TOOLS)).toBeGreaterThan(estimate(plain) + TOOLS_FRAMING_TOKENS);
      expect(estimate(plain, [])).toBe(estimate(plain));
      const withCalls = estimate(FOLLOW_UP);
      const bare = estimate(FOLLOW_UP.map((m): ModelMessage => (m.role === 'tool' ? { role: 'user', content: m.content } : { role: m.role, content: m.content })));
      expect(withCalls).toBeGreaterThan(bare + 20);
    }
  });

  test('the byte bound covers every byte sent, including arguments Anthropic re-serializes longer', () => {
    const numbers = `{"n":[${Array.from({ length: 1000 }, () => '1e20').join(',')}]}`;
    const messages: ModelMessage[] = [{ role: 'assistant', content: '', toolCalls: [{ id: 'c', name: 't', arguments: numbers }] }];
    const sent = JSON.stringify({ tools: TOOLS, input: JSON.parse(numbers) as unknown, raw: numbers });
    expect(estimateByBytes(messages, TOOLS)).toBeGreaterThan(Buffer.byteLength(sent));
  });

  test('providers estimate with the tools they are given', () => {
    const openai = new OpenAiProvider({ baseUrl: 'http://127.0.0.1:1' });
    const anthropic = new AnthropicProvider({ baseUrl: 'http://127.0.0.1:1' });
    expect(openai.estimateInputTokens(FOLLOW_UP, 'openai/gpt-4o', TOOLS)).toBe(estimateOpenAiTokens(FOLLOW_UP, 'gpt-4o', TOOLS));
    expect(anthropic.estimateInputTokens(FOLLOW_UP, 'anthropic/x', TOOLS)).toBe(estimateByBytes(FOLLOW_UP, TOOLS));
  });
});
