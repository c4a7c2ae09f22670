import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { build } from 'esbuild';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { bearer, createAccount, startRun, waitForRun } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { startStack, type TestStack } from './helpers/stack';

/**
 * A web page on another origin follows a run in a real browser (Debian's Chromium, headless,
 * driven by playwright-core) with nothing but the run's publicAccessToken: EventSource with
 * ?access_token=, the browser's own reconnect with Last-Event-ID, CORS (issue #16).
 */
const CHROMIUM = '/usr/bin/chromium';
// As the machine docs say: without the background-networking flags Chromium keeps dialling out
// into a closed network.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKENS = Array.from({ length: 30 }, (_, i) => `word${i} `);

/** The page a customer's product would serve: it shows a run's output as it streams. */
const PAGE = `<!doctype html>
<html><body><pre id="output"></pre><script>
const params = new URLSearchParams(location.search);
const api = params.get('api');
const token = params.get('token');
const streamUrl = (run) => api + '/v1/runs/' + run + '/events?access_token=' + encodeURIComponent(token);
window.seen = [];
window.errors = 0;
window.finished = false;
const es = new EventSource(streamUrl(params.get('run')));
const output = document.getElementById('output');
for (const type of ['status', 'progress', 'delta', 'log', 'usage', 'reset', 'error', 'end']) {
  es.addEventListener(type, (e) => {
    const data = JSON.parse(e.data);
    window.seen.push({ id: e.lastEventId, type });
    if (type === 'delta') output.textContent += data.text;
    if (type === 'reset') output.textContent = '';
    if (type === 'end') { window.finished = true; es.close(); }
  });
}
es.onerror = () => { window.errors++; };

// The same token, for a run it was not issued for: the stream and a fetch are both refused.
window.otherRun = new Promise((resolve) => {
  const other = new EventSource(streamUrl(params.get('other')));
  other.onopen = () => resolve({ opened: true });
  other.onerror = () => { resolve({ opened: false, readyState: other.readyState }); other.close(); };
}).then(async (stream) => {
  const res = await fetch(api + '/v1/runs/' + params.get('other'), { headers: { Authorization: 'Bearer ' + token } });
  return { stream, fetchStatus: res.status, problem: (await res.json()).type };
});
</script></body></html>`;

/** A page that loads the client SDK's browser bundle and follows a run with it. */
const SDK_PAGE = `<!doctype html>
<html><body><script type="module">
import { Runway, textOf } from '/sdk.js';
const params = new URLSearchParams(location.search);
const rw = new Runway({ baseUrl: params.get('api'), token: params.get('token') });
const events = [];
try {
  for await (const e of rw.runs.stream(params.get('run'))) events.push(e);
  const run = await rw.runs.get(params.get('run'));
  const other = await rw.runs.get(params.get('other')).then(() => 'readable', (err) => err.name + ' ' + err.status);
  window.sdkResult = { text: textOf(events), output: run.output, status: run.status, other };
} catch (err) {
  window.sdkResult = { error: String(err) };
}
</script></body></html>`;

/**
 * Stands between the browser and the API so the test can drop the browser's connections,
 * as a network does, and see each request the browser sent.
 */
class DroppingProxy {
  readonly requests: string[] = [];
  private readonly sockets = new Set<net.Socket>();
  private server?: net.Server;

  constructor(private readonly target: number) {}

  async start(): Promise<string> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      client.once('data', (head: Buffer) => this.requests.push(head.toString('latin1')));
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** What the page's script keeps on its window (no DOM types here: page functions read globalThis). */
interface PageState {
  seen: { id: string; type: string }[];
  errors: number;
  finished: boolean;
  otherRun: Promise<unknown>;
  sdkResult?: Record<string, unknown>;
}

let stack: TestStack;
let browser: Browser;
let proxy: DroppingProxy;
let apiUrl: string;
let sdkBundle = '';
const pages = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://pages');
  if (url.pathname === '/sdk.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdkBundle);
  else res.writeHead(200, { 'content-type': 'text/html' }).end(url.pathname === '/sdk.html' ? SDK_PAGE : PAGE);
});
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['fine'] });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  await fake.start();
  const pageOrigin = `http://localhost:${(pages.address() as AddressInfo).port}`;
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_PRICES: JSON.stringify({ 'openai/chat': { input: 1000, output: 1000 } }),
      RUNWAY_CORS_ORIGINS: pageOrigin,
    },
  });
  proxy = new DroppingProxy(Number(new URL(stack.baseUrl).port));
  apiUrl = await proxy.start();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await proxy?.stop();
  await stack?.stop();
  await fake.stop();
  await new Promise((resolve) => pages.close(resolve));
});

test('a page on another origin follows a run with its public token, through a dropped connection, to the full output', async () => {
  const account = await createAccount(stack, 10_000);
  const prompt = `stream to the browser ${Date.now()}`;
  fake.when(prompt, { kind: 'stream', tokens: TOKENS, delayMs: 100 });
  const started = await startRun(stack, account, { prompt, model: 'openai/chat', maxTokens: 100 });
  expect(started.status).toBe(202);
  const other = await startRun(stack, account, { prompt: 'not yours to see', maxTokens: 5 });

  const page = await browser.newPage();
  const search = new URLSearchParams({ api: apiUrl, token: started.body.publicAccessToken, run: started.body.id, other: other.body.id });
  // localhost for the page, 127.0.0.1 for the API: two origins, so every call is a CORS request.
  await page.goto(`http://localhost:${(pages.address() as AddressInfo).port}/?${search}`);

  // A few deltas in, the network drops the stream; the browser reconnects by itself.
  await page.waitForFunction(() => (globalThis as unknown as PageState).seen.filter((e) => e.type === 'delta').length >= 5);
  proxy.dropAll();
  await page.waitForFunction(() => (globalThis as unknown as PageState).finished, undefined, { timeout: 30_000 });

  const run = await waitForRun(stack, account, started.body.id);
  expect(run.status).toBe('succeeded');
  expect(run.output).toBe(TOKENS.join(''));
  expect(await page.textContent('#output')).toBe(run.output);
  const seen = await page.evaluate(() => (globalThis as unknown as PageState).seen);
  // Every delta once, in order: the reconnect resumed after the last event the page had. (Only
  // persisted events carry ids; a volatile progress event leaves lastEventId as it was.)
  const ids = seen.filter((e) => e.type === 'delta').map((e) => Number(e.id));
  expect(ids.length).toBeGreaterThan(5);
  expect(ids).toEqual([...new Set(ids)].sort((a, b) => a - b));
  expect(await page.evaluate(() => (globalThis as unknown as PageState).errors)).toBeGreaterThanOrEqual(1);
  const resumed = proxy.requests.filter((r) => r.startsWith(`GET /v1/runs/${started.body.id}/events`) && /^last-event-id: \d+/im.test(r));
  expect(resumed.length).toBeGreaterThanOrEqual(1);

  expect(await page.evaluate(() => (globalThis as unknown as PageState).otherRun)).toEqual({
    stream: { opened: false, readyState: 2 },
    fetchStatus: 404,
    problem: 'https://runway.dev/problems/not-found',
  });
  await page.close();
  // The page's token read; it changed nothing of the account's.
  expect((await stack.http.get(`/v1/runs/${other.body.id}`).set(bearer(account))).status).toBe(200);
});

test('the client SDK bundles for the browser and follows a run there with a scoped token', async () => {
  // platform 'browser': a Node-only import in what the SDK exports would fail this bundle.
  const bundled = await build({
    entryPoints: [path.join(__dirname, '..', 'packages', 'client', 'dist', 'index.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  sdkBundle = bundled.outputFiles[0]!.text;
  const account = await createAccount(stack, 10_000);
  const started = await startRun(stack, account, { prompt: 'hello from the sdk in a browser', maxTokens: 20 });
  const other = await startRun(stack, account, { prompt: 'not this one', maxTokens: 5 });
  const page = await browser.newPage();
  const search = new URLSearchParams({ api: apiUrl, token: started.body.publicAccessToken, run: started.body.id, other: other.body.id });
  await page.goto(`http://localhost:${(pages.address() as AddressInfo).port}/sdk.html?${search}`);
  await page.waitForFunction(() => (globalThis as unknown as PageState).sdkResult !== undefined, undefined, { timeout: 30_000 });
  expect(await page.evaluate(() => (globalThis as unknown as PageState).sdkResult)).toEqual({
    text: 'hello from the sdk in a browser',
    output: 'hello from the sdk in a browser',
    status: 'succeeded',
    other: 'RunwayError 404',
  });
  await page.close();
});
