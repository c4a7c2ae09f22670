import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the next request to the fake server does. */
export type FakeBehaviour =
  | {
      kind: 'stream';
      tokens: string[];
      delayMs?: number;
      usage?: { prompt_tokens: number; completion_tokens: number } | null;
      finish?: 'stop' | 'length' | 'tool_calls';
      /** A misbehaving provider that streams past the `max_tokens` it was given. */
      ignoreMaxTokens?: boolean;
      /**
       * Tool calls streamed after the text as OpenAI does: a first delta with index, id and name,
       * then the arguments in a few fragments, parallel calls interleaved; finish `tool_calls`.
       */
      toolCalls?: FakeToolCall[];
    }
  /** `echoAuthorization` puts the Authorization header in the error body, as some gateways do. */
  | { kind: 'status'; status: number; body?: string; retryAfter?: string; echoAuthorization?: boolean }
  | { kind: 'hang' };

export interface FakeToolCall {
  /** Default `call_<n>`, n counting the fake's calls. */
  id?: string;
  name: string;
  arguments: string;
}

/** A message as Chat Completions takes it (tool calls on assistant turns, `tool` answers). */
export interface RecordedMessage {
  role: string;
  content: string | null;
  tool_calls?: { id: string; type: string; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

/** Picks a request's behaviour from its body; `undefined` leaves it to `when` and the queue. */
export type Responder = (body: RecordedRequest['body']) => FakeBehaviour | undefined;

/** `text` cut into `pieces` parts (fewer if it is shorter), as streamed argument fragments. */
export function fragments(text: string, pieces = 3): string[] {
  const size = Math.max(1, Math.ceil(text.length / pieces));
  const out: string[] = [];
  for (let at = 0; at < text.length; at += size) out.push(text.slice(at, at + size));
  return out;
}

export interface RecordedRequest {
  authorization: string | undefined;
  /** Date.now() when the request arrived. */
  at: number;
  body: {
    model: string;
    messages: RecordedMessage[];
    tools?: { type: string; function: { name: string; description?: string; parameters?: unknown } }[];
    max_tokens?: number;
    stream?: boolean;
    stream_options?: unknown;
  };
}

/**
 * A local HTTP server speaking the OpenAI Chat Completions streaming protocol: SSE `data:` chunks,
 * a usage chunk when asked for, and `data: [DONE]`. A request's behaviour comes from the
 * responders (`respond`), then `when`'s per-prompt lists, then the queue, then the default.
 */
export class FakeOpenAi {
  readonly requests: RecordedRequest[] = [];
  private queue: FakeBehaviour[] = [];
  private server?: http.Server;
  private readonly open = new Set<http.ServerResponse>();
  /** Requests whose connection the client closed before the stream ended. */
  aborted = 0;

  constructor(public defaultBehaviour: FakeBehaviour = { kind: 'stream', tokens: ['Hello', ' world'] }) {}

  enqueue(...behaviours: FakeBehaviour[]): void {
    this.queue.push(...behaviours);
  }

  /**
   * Behaviours for requests whose last user message is exactly `prompt`, used before the shared
   * queue: tests stay independent even when an earlier test's runs are still going.
   */
  when(prompt: string, ...behaviours: FakeBehaviour[]): void {
    this.byPrompt.set(prompt, [...(this.byPrompt.get(prompt) ?? []), ...behaviours]);
  }

  private readonly byPrompt = new Map<string, FakeBehaviour[]>();
  private readonly responders: Responder[] = [];
  private callCount = 0;

  /**
   * Consulted first, in the order added, for every request: agent-loop tests script each turn
   * from the conversation so far. Returns a function that removes the responder.
   */
  respond(responder: Responder): () => void {
    this.responders.push(responder);
    return () => {
      const at = this.responders.indexOf(responder);
      if (at >= 0) this.responders.splice(at, 1);
    };
  }

  private behaviourFor(body: RecordedRequest['body']): FakeBehaviour {
    for (const responder of this.responders) {
      const chosen = responder(body);
      if (chosen) return chosen;
    }
    const lastUser = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    return this.byPrompt.get(lastUser)?.shift() ?? this.queue.shift() ?? this.defaultBehaviour;
  }

  get baseUrl(): string {
    const address = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}/v1`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.url !== '/v1/chat/completions' || req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedRequest['body'];
    this.requests.push({ authorization: req.headers.authorization, at: Date.now(), body });
    const behaviour = this.behaviourFor(body);
    if (behaviour.kind === 'status') {
      res.writeHead(behaviour.status, {
        'content-type': 'application/json',
        ...(behaviour.retryAfter ? { 'retry-after': behaviour.retryAfter } : {}),
      });
      const echo = behaviour.echoAuthorization ? `: Incorrect API key provided: ${req.headers.authorization ?? ''}` : '';
      res.end(behaviour.body ?? JSON.stringify({ error: { message: `fake error ${behaviour.status}${echo}`, type: 'fake' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    this.open.add(res);
    let closed = false;
    res.on('close', () => {
      this.open.delete(res);
      if (!res.writableEnded) {
        closed = true;
        this.aborted++;
      }
    });
    if (behaviour.kind === 'hang') return; // headers sent, then nothing
    const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
    const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model: body.model };
    send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
    const limit = behaviour.ignoreMaxTokens ? Infinity : (body.max_tokens ?? Infinity);
    let sent = 0;
    for (const token of behaviour.tokens) {
      if (closed) return;
      if (sent >= limit) break;
      if (behaviour.delayMs) await new Promise((r) => setTimeout(r, behaviour.delayMs));
      if (closed) return;
      send({ ...base, choices: [{ index: 0, delta: { content: token }, finish_reason: null }] });
      sent++;
    }
    const cut = sent < behaviour.tokens.length;
    const calls = cut ? [] : (behaviour.toolCalls ?? []);
    const pieces = this.sendToolCalls(calls, (delta) => send({ ...base, choices: [{ index: 0, delta, finish_reason: null }] }));
    if (closed) return;
    const finish = behaviour.finish ?? (cut ? 'length' : calls.length > 0 ? 'tool_calls' : 'stop');
    send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] });
    const wantsUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage;
    if (wantsUsage && behaviour.usage !== null) {
      const usage = behaviour.usage ?? { prompt_tokens: 11, completion_tokens: sent + pieces };
      send({ ...base, choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } });
    }
    res.write('data: [DONE]\n\n');
    res.end();
  }

  /**
   * Each call's first delta (index, id, name, empty arguments), then the argument fragments
   * round-robin across the calls, as parallel calls interleave. Returns the deltas sent.
   */
  private sendToolCalls(calls: FakeToolCall[], sendDelta: (delta: unknown) => void): number {
    const split = calls.map((call) => fragments(call.arguments));
    let sent = 0;
    calls.forEach((call, index) => {
      const id = call.id ?? `call_${++this.callCount}`;
      sendDelta({ tool_calls: [{ index, id, type: 'function', function: { name: call.name, arguments: '' } }] });
      sent++;
    });
    for (let round = 0; split.some((parts) => round < parts.length); round++) {
      split.forEach((parts, index) => {
        const part = parts[round];
        if (part === undefined) return;
        sendDelta({ tool_calls: [{ index, function: { arguments: part } }] });
        sent++;
      });
    }
    return sent;
  }
}
