import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { FakeAnthropic } from './helpers/fake-anthropic';
import { FakeOpenAi } from './helpers/fake-openai';
import { startStack, type TestStack } from './helpers/stack';

const OPERATOR_KEY = 'sk-operator-redirect-0123456789';
const RUN_KEY = 'sk-tenant-redirect-9876543210';
const HOSTILE_ERROR_PROMPT = 'answer with a hostile error body';

/** The configured provider: sends every call elsewhere (307, so a follower would resend the body and headers). */
class RedirectingServer {
  readonly requests: string[] = [];
  private server?: http.Server;

  constructor(private readonly target: (path: string) => string) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/v1`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        this.requests.push(req.url ?? '');
        if (body.includes(HOSTILE_ERROR_PROMPT)) {
          // A body no PostgreSQL text or jsonb column takes as it is.
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad \u0000 request \ud83d"}');
          return;
        }
        res.writeHead(307, { location: this.target((req.url ?? '').replace(/^\/v1/, '')) }).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

let stack: TestStack;
let account: TestAccount;
const openai = new FakeOpenAi({ kind: 'stream', tokens: ['stolen'] });
const anthropic = new FakeAnthropic({ kind: 'stream', tokens: ['stolen'] });
const redirecting = new RedirectingServer((path) => (path.startsWith('/messages') ? anthropic.baseUrl : openai.baseUrl) + path);

beforeAll(async () => {
  await Promise.all([openai.start(), anthropic.start(), redirecting.start()]);
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: redirecting.baseUrl,
      RUNWAY_OPENAI_API_KEY: OPERATOR_KEY,
      RUNWAY_ANTHROPIC_BASE_URL: redirecting.baseUrl,
      RUNWAY_ANTHROPIC_API_KEY: OPERATOR_KEY,
      RUNWAY_PRICES: JSON.stringify({ 'openai/*': { input: 100, output: 1000 }, 'anthropic/*': { input: 100, output: 1000 } }),
    },
  });
  account = await createAccount(stack, 100_000);
});
afterAll(async () => {
  await stack?.stop();
  await Promise.all([openai.stop(), anthropic.stop(), redirecting.stop()]);
});

describe('provider calls and redirects', () => {
  test.each([
    ['openai/gpt-test', undefined],
    ['openai/gpt-test', RUN_KEY],
    ['anthropic/claude-test', undefined],
    ['anthropic/claude-test', RUN_KEY],
  ])('%s (run key: %s): a redirect fails the run at once and the key never reaches the other server', async (model, runKey) => {
    const before = redirecting.requests.length;
    const res = await startRun(stack, account, { prompt: `redirect me ${model} ${runKey}`, model, maxTokens: 16, ...(runKey ? { secrets: { apiKey: runKey } } : {}) });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'provider_redirect' });
    expect(run.error?.message).toMatch(/redirect/);
    expect(redirecting.requests.length - before).toBe(1); // not retried: the answer would be the same
    expect(openai.requests).toHaveLength(0);
    expect(anthropic.requests).toHaveLength(0);
    expect(JSON.stringify(run)).not.toContain(OPERATOR_KEY);
  });

  test('an error body with NUL and a lone surrogate still fails the run cleanly, with its error stored', async () => {
    const res = await startRun(stack, account, { prompt: HOSTILE_ERROR_PROMPT, model: 'openai/gpt-test', maxTokens: 16 });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id, undefined, 20_000);
    expect(run.status).toBe('failed');
    expect(run.error).toEqual({ code: 'provider_http_400', message: 'provider answered 400: {"error":"bad \ufffd request \ufffd"}' });
    expect(run.cost.charged + run.cost.refunded).toBe(run.cost.estimate);
  });
});
