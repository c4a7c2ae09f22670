import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the next request to the fake server does. */
export type FakeAnthropicBehaviour =
  | { kind: 'stream'; tokens: string[]; delayMs?: number; usage?: { input_tokens: number; output_tokens: number } }
  /** Streams some tokens, then an `error` event (e.g. `overloaded_error`) instead of `message_stop`. */
  | { kind: 'error-event'; tokens?: string[]; type: string; message?: string }
  | { kind: 'status'; status: number; retryAfter?: string; errorType?: string }
  | { kind: 'hang' };

export interface AnthropicRequest {
  apiKey: string | undefined;
  version: string | undefined;
  body: { model: string; max_tokens: number; stream?: boolean; system?: string; messages: { role: string; content: string }[] };
}

/**
 * A local server speaking the Anthropic Messages streaming protocol: `message_start` (input
 * usage), `content_block_start`, `ping`, `content_block_delta` (text_delta), `content_block_stop`,
 * `message_delta` (stop_reason, output usage), `message_stop`; or an `error` event; or an HTTP
 * error with Anthropic's error body. Behaviours are queued per request.
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
    const b = this.queue.shift() ?? this.defaultBehaviour;
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
    send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
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
    send('content_block_stop', { index: 0 });
    const stopReason = sent < b.tokens.length ? 'max_tokens' : 'end_turn';
    send('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: b.usage?.output_tokens ?? sent } });
    send('message_stop', {});
    res.end();
  }
}
