import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ReceivedWebhook {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Date.now() when the request's body had arrived. */
  at: number;
  /** The status this receiver answered. */
  answered: number;
}

/** What the receiver answers to a request: a status, or 'hang' (never answers). */
export type Answer = number | 'hang';

/**
 * A real local HTTP receiver of webhooks. Each path answers its scripted answers in order, then
 * its fallback (200 by default).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly scripts = new Map<string, { answers: Answer[]; fallback: Answer }>();
  private server: http.Server | undefined;
  private readonly hanging = new Set<http.ServerResponse>();

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const script = this.scripts.get(req.url ?? '/');
        const answer = script ? (script.answers.shift() ?? script.fallback) : 200;
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        this.received.push({
          path: req.url ?? '/',
          headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
          answered: answer === 'hang' ? 0 : answer,
        });
        if (answer === 'hang') {
          this.hanging.add(res);
          return;
        }
        if (answer >= 300 && answer < 400) res.setHeader('location', '/redirected');
        res.statusCode = answer;
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  /** What `path` answers from now on. */
  script(path: string, answers: Answer[], fallback: Answer = 200): void {
    this.scripts.set(path, { answers: [...answers], fallback });
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** The requests to one path (each webhook gets its own path). */
  on(path: string): ReceivedWebhook[] {
    return this.received.filter((r) => r.path === path);
  }

  async waitFor(path: string, count: number, timeoutMs = 30_000): Promise<ReceivedWebhook[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.on(path).length < count) {
      if (Date.now() > deadline) throw new Error(`${path}: ${this.on(path).length} of ${count} webhooks after ${timeoutMs} ms`);
      await sleep(20);
    }
    return this.on(path);
  }
}
