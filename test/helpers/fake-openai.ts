import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the next request to the fake server does. */
export type FakeBehaviour =
  | {
      kind: 'stream';
      tokens: string[];
      delayMs?: number;
      usage?: { prompt_tokens: number; completion_tokens: number } | null;
      finish?: 'stop' | 'length';
      /** A misbehaving provider that streams past the `max_tokens` it was given. */
      ignoreMaxTokens?: boolean;
    }
  /** `echoAuthorization` puts the Authorization header in the error body, as some gateways do. */
  | { kind: 'status'; status: number; body?: string; retryAfter?: string; echoAuthorization?: boolean }
  | { kind: 'hang' };

export interface RecordedRequest {
  authorization: string | undefined;
  /** Date.now() when the request arrived. */
  at: number;
  body: { model: string; messages: { role: string; content: string }[]; max_tokens?: number; stream?: boolean; stream_options?: unknown };
}

/**
 * A local HTTP server speaking the OpenAI Chat Completions streaming protocol: SSE `data:` chunks,
 * a usage chunk when asked for, and `data: [DONE]`. Behaviours are queued per request; once the
 * queue is empty the default behaviour applies.
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
    const lastUser = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const behaviour = this.byPrompt.get(lastUser)?.shift() ?? this.queue.shift() ?? this.defaultBehaviour;
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
    const finish = behaviour.finish ?? (sent < behaviour.tokens.length ? 'length' : 'stop');
    send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] });
    const wantsUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage;
    if (wantsUsage && behaviour.usage !== null) {
      const usage = behaviour.usage ?? { prompt_tokens: 11, completion_tokens: sent };
      send({ ...base, choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } });
    }
    res.write('data: [DONE]\n\n');
    res.end();
  }
}
