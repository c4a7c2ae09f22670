import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fragments, type FakeToolCall } from './fake-openai';

/** What the next request to the fake server does. */
export type FakeAnthropicBehaviour =
  | {
      kind: 'stream';
      tokens: string[];
      delayMs?: number;
      usage?: { input_tokens: number; output_tokens: number };
      /**
       * Tool calls after the text, as Anthropic streams them: one `tool_use` block each
       * (content_block_start, input_json_delta fragments, content_block_stop); stop_reason `tool_use`.
       */
      toolCalls?: FakeToolCall[];
    }
  /** Streams some tokens, then an `error` event (e.g. `overloaded_error`) instead of `message_stop`. */
  | { kind: 'error-event'; tokens?: string[]; type: string; message?: string }
  | { kind: 'status'; status: number; retryAfter?: string; errorType?: string }
  | { kind: 'hang' };

/** A content block of a request's message (text, tool_use, tool_result). */
export type AnthropicBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: unknown };

export interface AnthropicRequest {
  apiKey: string | undefined;
  version: string | undefined;
  body: {
    model: string;
    max_tokens: number;
    stream?: boolean;
    system?: string;
    messages: { role: string; content: string | AnthropicBlock[] }[];
    tools?: { name: string; description?: string; input_schema?: unknown }[];
  };
}

/** Picks a request's behaviour from its body; `undefined` leaves it to the queue. */
export type AnthropicResponder = (body: AnthropicRequest['body']) => FakeAnthropicBehaviour | undefined;

/**
 * A local server speaking the Anthropic Messages streaming protocol: `message_start` (input
 * usage), `content_block_start`, `ping`, `content_block_delta` (text_delta), `content_block_stop`,
 * `message_delta` (stop_reason, output usage), `message_stop`; or an `error` event; or an HTTP
 * error with Anthropic's error body. A request's behaviour comes from the responders
 * (`respond`), then the queue, then the default.
 */
export class FakeAnthropic {
  readonly requests: AnthropicRequest[] = [];
  private queue: FakeAnthropicBehaviour[] = [];
  private server?: http.Server;
  aborted = 0;

  constructor(public defaultBehaviour: FakeAnthropicBehaviour = { kind: 'stream', tokens: ['Hi', ' there'] }) {}

  enqueue(...behaviours: FakeAnthropicBehaviour[]): void {
    this.queue.push(...behaviours);
  }

  private readonly responders: AnthropicResponder[] = [];
  private callCount = 0;

  /**
   * Consulted first, in the order added, for every request: agent-loop tests script each turn
   * from the conversation so far. Returns a function that removes the responder.
   */
  respond(responder: AnthropicResponder): () => void {
    this.responders.push(responder);
    return () => {
      const at = this.responders.indexOf(responder);
      if (at >= 0) this.responders.splice(at, 1);
    };
  }

  private behaviourFor(body: AnthropicRequest['body']): FakeAnthropicBehaviour {
    for (const responder of this.responders) {
      const chosen = responder(body);
      if (chosen) return chosen;
    }
    return this.queue.shift() ?? this.defaultBehaviour;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/v1`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.url !== '/v1/messages' || req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AnthropicRequest['body'];
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    this.requests.push({ apiKey: header('x-api-key'), version: header('anthropic-version'), body });
    const b = this.behaviourFor(body);
    if (b.kind === 'status') {
      res.writeHead(b.status, { 'content-type': 'application/json', ...(b.retryAfter ? { 'retry-after': b.retryAfter } : {}) });
      res.end(JSON.stringify({ type: 'error', error: { type: b.errorType ?? 'api_error', message: `fake error ${b.status}` } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let closed = false;
    res.on('close', () => {
      if (!res.writableEnded) {
        closed = true;
        this.aborted++;
      }
    });
    if (b.kind === 'hang') return;
    const send = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    const inputTokens = b.kind === 'stream' ? (b.usage?.input_tokens ?? 9) : 9;
    send('message_start', {
      message: { id: 'msg_fake', type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, usage: { input_tokens: inputTokens, output_tokens: 1 } },
    });
    const calls = b.kind === 'stream' ? (b.toolCalls ?? []) : [];
    // A turn that goes straight to its tool calls has no text block, as with the real API.
    const textBlock = calls.length === 0 || (b.tokens ?? []).length > 0;
    if (textBlock) send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    send('ping', {});
    let sent = 0;
    for (const token of b.tokens ?? []) {
      if (sent >= body.max_tokens) break;
      if (b.kind === 'stream' && b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
      if (closed) return;
      send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: token } });
      sent++;
    }
    if (b.kind === 'error-event') {
      send('error', { error: { type: b.type, message: b.message ?? 'Overloaded' } });
      res.end();
      return;
    }
    if (textBlock) send('content_block_stop', { index: 0 });
    const cut = sent < b.tokens.length;
    const pieces = cut ? 0 : this.sendToolUses(calls, textBlock ? 1 : 0, send);
    const stopReason = cut ? 'max_tokens' : calls.length > 0 ? 'tool_use' : 'end_turn';
    send('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: b.usage?.output_tokens ?? sent + pieces } });
    send('message_stop', {});
    res.end();
  }

  /** One tool_use block per call from block `first` on, its input JSON in fragments. Returns the fragments sent. */
  private sendToolUses(calls: FakeToolCall[], first: number, send: (type: string, data: Record<string, unknown>) => void): number {
    let sent = 0;
    calls.forEach((call, i) => {
      const index = first + i;
      const id = call.id ?? `toolu_fake_${++this.callCount}`;
      send('content_block_start', { index, content_block: { type: 'tool_use', id, name: call.name, input: {} } });
      // The API's first input delta is often empty.
      for (const part of ['', ...fragments(call.arguments)]) {
        send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } });
        sent++;
      }
      send('content_block_stop', { index });
    });
    return sent;
  }
}
