import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { Runway } from '../packages/client/src/index';
import { createApp } from '../src/api/app';
import { createAccount, waitForRun, type TestAccount } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';
import { WebhookReceiver } from './helpers/webhook-receiver';

/**
 * The browser console (issue #18), served by the API at /console, driven in Debian's Chromium
 * (headless, playwright-core) as a person would use it. Screenshots of each main page go to
 * test/artifacts/ (git-ignored) for a reviewer.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = path.join(__dirname, 'artifacts');
/** The browser globals the page functions below use (test code is typed without the DOM library). */
interface TextNode {
  textContent: string | null;
  querySelector(selector: string): TextNode | null;
}
interface BrowserGlobals {
  location: { hash: string };
  document: { querySelector(selector: string): TextNode | null; querySelectorAll(selector: string): ArrayLike<TextNode>; documentElement: { scrollWidth: number } };
  sessionStorage: { length: number };
  notReloaded?: boolean;
}
const words = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(' ');

let stack: TestStack;
let browser: Browser;
const receiver = new WebhookReceiver();

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  await receiver.start();
  stack = await startStack({ env: { RUNWAY_DEMO_DELAY_MS: '40', RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true', RUNWAY_WEBHOOK_POLL_MS: '500' } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await receiver.stop();
});

const sdkFor = (account: TestAccount) => new Runway({ baseUrl: stack.baseUrl, apiKey: account.apiKey });

async function openPage(width = 1280): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log(`console page error: ${err.message}`));
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function signIn(page: Page, account: TestAccount): Promise<void> {
  await page.goto(`${stack.baseUrl}/console/`);
  await page.getByLabel('API key').fill(account.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
}

const hashOf = (page: Page) => page.evaluate(() => (globalThis as unknown as BrowserGlobals).location.hash);
/** The run id of a `#/runs/<id>` page. */
const runIdInHash = async (page: Page) => decodeURIComponent((await hashOf(page)).split('/')[2] ?? '');
const statusOf = (page: Page) => page.locator('.status-line .badge').textContent();
const outputOf = async (page: Page) => (await page.getByTestId('output').textContent()) ?? '';

async function waitForStatus(page: Page, status: string, timeout = 30_000): Promise<void> {
  await page.locator('.status-line .badge', { hasText: new RegExp(`^${status}$`) }).waitFor({ timeout });
}

describe('served by the API', () => {
  test('at /console with its security headers and caching; not in the OpenAPI document', async () => {
    const redirect = await stack.http.get('/console');
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe('/console/');
    const index = await stack.http.get('/console/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toMatch(/text\/html/);
    expect(index.headers['content-security-policy']).toContain("default-src 'self'");
    expect(index.headers['content-security-policy']).toContain("script-src 'self'");
    expect(index.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    expect(index.headers['referrer-policy']).toBe('no-referrer');
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.text).not.toMatch(/<script>(?!<)/); // no inline script for the CSP to refuse
    const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(index.text)?.[1];
    if (!asset) throw new Error('index.html names no script');
    const js = await stack.http.get(asset);
    expect(js.status).toBe(200);
    expect(js.headers['cache-control']).toMatch(/immutable/);
    // A deep link is the console's own page; a missing asset and a way out of the folder are not.
    expect((await stack.http.get('/console/runs/run_x')).text).toBe(index.text);
    const missing = await stack.http.get('/console/assets/missing.js');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/problem\+json/);
    const escape = await stack.http.get('/console/..%2f..%2f..%2fpackage.json');
    expect(escape.text).not.toContain('"workspaces"');
    expect((await stack.http.post('/console/').send({})).status).toBe(405);
    const doc = (await stack.http.get('/openapi.json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/console'))).toEqual([]);
  });

  test('without a build, /console says how to build it (503 problem)', async () => {
    const app = createApp(stack.apiDeps, { consoleDir: mkdtempSync(path.join(os.tmpdir(), 'no-console-')) });
    const res = await request(app.callback()).get('/console/');
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(res.body).toMatchObject({ type: 'https://runway.dev/problems/console-not-built', status: 503 });
    expect(res.body.detail).toContain('npm run build:console');
  });
});

test('a wrong key is refused at sign-in; the right one shows an empty list, then a new run streaming its output', async () => {
  const account = await createAccount(stack, 100_000);
  const page = await openPage();
  await page.goto(`${stack.baseUrl}/console/`);
  await page.getByLabel('API key').fill('rwk_not-a-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Your session has expired or the key is invalid — sign in again' }).waitFor();

  await signIn(page, account);
  await page.getByText('No runs yet.').waitFor();
  expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).sessionStorage.length)).toBe(1);
  await page.getByRole('link', { name: 'New run' }).click();
  const prompt = words('stream', 60);
  await page.getByLabel('Prompt').fill(prompt);
  await page.getByLabel('Model').fill('demo/echo');
  await page.getByLabel('Max tokens').fill('200');
  await page.getByRole('button', { name: 'Start run' }).click();
  await page.waitForFunction(() => /^#\/runs\/run_/.test((globalThis as unknown as BrowserGlobals).location.hash));
  const runId = await runIdInHash(page);

  // The output grows while the run is running: seen at least twice, shorter than the whole.
  await page.waitForFunction(() => ((globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid=output]')?.textContent ?? '').length > 0);
  const first = await outputOf(page);
  expect(await statusOf(page)).toBe('running');
  await page.waitForFunction((n) => ((globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid=output]')?.textContent ?? '').length > n, first.length);
  expect(first.length).toBeLessThan(prompt.length);
  expect(prompt.startsWith(first)).toBe(true);
  await shot(page, 'run-streaming');

  await waitForStatus(page, 'succeeded');
  const run = await waitForRun(stack, account, runId);
  expect(run.status).toBe('succeeded');
  expect(await outputOf(page)).toBe(run.output);
  expect(run.output).toBe(prompt);
  await page.getByText(`${run.usage.inputTokens} in / ${run.usage.outputTokens} out tokens`).waitFor();
  await page.getByText(`${run.cost.charged} credits`, { exact: false }).first().waitFor();
  await shot(page, 'run');
});

test('the runs list updates live, without a reload, and filters by status and user', async () => {
  const account = await createAccount(stack, 100_000);
  const rw = sdkFor(account);
  const page = await openPage();
  await signIn(page, account);
  await page.evaluate(() => { (globalThis as unknown as BrowserGlobals).notReloaded = true; });
  const alice = await rw.runs.create({ prompt: words('alice', 10), user: 'alice' });
  const bob = await rw.runs.create({ prompt: words('bob', 10), user: 'bob' });
  await page.getByRole('link', { name: alice.id }).waitFor();
  await page.getByRole('link', { name: bob.id }).waitFor();
  await rw.runs.wait(alice.id);
  await rw.runs.wait(bob.id);
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: alice.id }) });
  await row.getByText('succeeded').waitFor();
  expect(await row.textContent()).toContain('alice');
  expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).notReloaded)).toBe(true);

  await page.getByLabel('User').fill('bob');
  await page.getByLabel('User').press('Enter');
  await page.getByRole('link', { name: alice.id }).waitFor({ state: 'detached' });
  await page.getByRole('link', { name: bob.id }).waitFor();
  await page.getByLabel('Status').selectOption('failed');
  await page.getByText('No runs match these filters.').waitFor();
  await page.getByLabel('Status').selectOption('');
  await page.getByLabel('User').fill('');
  await page.getByLabel('User').press('Enter');
  await page.getByRole('link', { name: alice.id }).waitFor();
  await shot(page, 'runs');
});

test('Stop stops a running run (the API agrees); a second run over the active-run cap is shown as that', async () => {
  const account = await createAccount(stack, 100_000, { maxActiveRuns: 1 });
  const rw = sdkFor(account);
  const long = await rw.runs.create({ prompt: words('long', 300), maxTokens: 400 });
  const page = await openPage();
  await signIn(page, account);

  await page.getByRole('link', { name: 'New run' }).click();
  await page.getByLabel('Prompt').fill('one too many');
  await page.getByRole('button', { name: 'Start run' }).click();
  const refusal = page.getByRole('alert').filter({ hasText: 'Too many active runs' });
  await refusal.waitFor();
  expect(await refusal.textContent()).toContain('for this account');

  await page.goto(`${stack.baseUrl}/console/#/runs/${long.id}`);
  await waitForStatus(page, 'running');
  await page.waitForFunction(() => ((globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid=output]')?.textContent ?? '').length > 0);
  await page.getByRole('button', { name: 'Stop' }).click();
  await waitForStatus(page, 'stopped');
  const run = await waitForRun(stack, account, long.id);
  expect(run.status).toBe('stopped');
  expect(run.output.length).toBeLessThan(words('long', 300).length);
  await page.waitForFunction((out) => (globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid=output]')?.textContent === out, run.output);
  expect(await page.getByRole('button', { name: 'Stop' }).count()).toBe(0);

  // Retry starts the same input again and opens the new run.
  await page.getByRole('button', { name: 'Retry' }).click();
  await page.waitForFunction((id) => /^#\/runs\/run_/.test((globalThis as unknown as BrowserGlobals).location.hash) && !(globalThis as unknown as BrowserGlobals).location.hash.endsWith(id), long.id);
  await page.getByText(`Retry of`).waitFor();
  const retried = await runIdInHash(page);
  expect((await rw.runs.get(retried)).retryOf).toBe(long.id);
  await rw.runs.stop(retried);
});

test('a session: requests in order with their outputs, a follow-up sent from the page, then Close', async () => {
  const account = await createAccount(stack, 100_000);
  const rw = sdkFor(account);
  const session = await rw.sessions.create({ user: 'carol' });
  const first = await rw.sessions.request(session.id, { prompt: 'first question' });
  await rw.runs.wait(first.runId);
  const page = await openPage();
  await signIn(page, account);
  await page.getByRole('link', { name: 'Sessions' }).click();
  await page.getByRole('link', { name: session.id }).click();
  const requests = page.getByRole('list', { name: 'Requests, in order' }).locator('> li');
  await requests.first().getByText('first question').first().waitFor();

  const followUp = words('again', 40);
  await page.getByLabel('Follow-up').fill(followUp);
  await page.getByRole('button', { name: 'Send' }).click();
  await requests.nth(1).waitFor();
  const second = requests.nth(1).getByLabel(/^Output of /);
  await page.waitForFunction(() => ((globalThis as unknown as BrowserGlobals).document.querySelectorAll('.requests > li')[1]?.querySelector('.output')?.textContent ?? '').length > 0);
  const partial = (await second.textContent()) ?? '';
  expect(followUp.startsWith(partial)).toBe(true);
  await requests.nth(1).getByText('succeeded').waitFor({ timeout: 30_000 });
  await page.waitForFunction((out) => (globalThis as unknown as BrowserGlobals).document.querySelectorAll('.requests > li')[1]?.querySelector('.output')?.textContent === out, followUp);
  expect(await requests.count()).toBe(2);
  expect(await requests.nth(0).getByLabel(/^Output of /).textContent()).toBe('first question');
  const runs = [];
  for await (const r of rw.runs.list({ sessionId: session.id })) runs.push(r);
  expect(runs.map((r) => r.output).reverse()).toEqual(['first question', followUp]);
  await shot(page, 'session');

  await page.getByRole('button', { name: 'Close session' }).click();
  await page.getByRole('status').getByText(/^clos(ing|ed)$/).waitFor();
  expect((await rw.sessions.get(session.id)).status).toMatch(/^clos/);
  expect(await page.getByLabel('Follow-up').count()).toBe(0);
});

test('account and webhooks: balance, reserved, the ledger; endpoints with their deliveries', async () => {
  const account = await createAccount(stack, 50_000);
  const rw = sdkFor(account);
  const hook = await rw.webhooks.create({ url: `${receiver.url}/console-hook`, description: 'console test' });
  const done = await rw.runs.wait((await rw.runs.create({ prompt: 'pay for me', maxTokens: 10 })).id);
  await receiver.waitFor('/console-hook', 1);
  const page = await openPage();
  await signIn(page, account);
  await page.getByRole('link', { name: 'Account' }).click();
  const me = await rw.account.get();
  await page.getByText(`${me.balance} credits`).first().waitFor();
  expect(me.balance).toBe(50_000 - done.cost.charged);
  const ledger = page.getByRole('table').getByRole('row');
  await ledger.nth(4).waitFor();
  expect(await ledger.count()).toBe(5); // header, credit, reserve, charge, refund
  expect(await page.getByRole('table').getByRole('link', { name: done.id }).count()).toBe(3);
  await shot(page, 'account');

  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('heading', { name: hook.url }).waitFor();
  const delivery = page.getByRole('row').filter({ has: page.getByRole('link', { name: done.id }) });
  await delivery.getByText('delivered').waitFor({ timeout: 15_000 });
  const cells = await delivery.getByRole('cell').allTextContents();
  expect(cells.slice(1, 6)).toEqual(['run.succeeded', done.id, 'delivered', '1', '200']);
  await shot(page, 'webhooks');
});

test('a #token= link shows only what the token covers, and no account or webhooks', async () => {
  const account = await createAccount(stack, 100_000);
  const rw = sdkFor(account);
  const dave = await rw.runs.wait((await rw.runs.create({ prompt: 'dave only', user: 'dave' })).id);
  const erin = await rw.runs.wait((await rw.runs.create({ prompt: 'erin only', user: 'erin' })).id);
  const { token } = await rw.tokens.create({ scope: { user: 'dave' }, permissions: ['read', 'stop', 'create'] });
  const page = await openPage(375);
  await page.goto(`${stack.baseUrl}/console/#token=${encodeURIComponent(token)}`);
  // A link that can write shows what it grants, and is used only when the person says so.
  await page.getByRole('heading', { name: 'Open this link?' }).waitFor();
  expect(await page.getByTestId('link-scope').textContent()).toBe('the runs and sessions of end user dave');
  expect(await page.getByTestId('link-permissions').textContent()).toBe('see runs and their output; stop runs; start runs and send requests');
  expect(await hashOf(page)).toBe('#/'); // the token is out of the address bar already
  await page.getByRole('button', { name: 'Use this link' }).click();
  await page.getByRole('link', { name: dave.id }).waitFor();
  expect(await hashOf(page)).toBe('#/');
  expect(await page.getByText('End user dave').count()).toBeGreaterThan(0);
  expect(await page.getByRole('link', { name: erin.id }).count()).toBe(0);
  const nav = page.getByRole('navigation', { name: 'Console' });
  expect(await nav.getByRole('link').allTextContents()).toEqual(['Runs', 'Sessions']);
  // Narrow window: nothing wider than the screen.
  expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  await shot(page, 'token-view');

  await page.goto(`${stack.baseUrl}/console/#/runs/${erin.id}`);
  await page.getByRole('heading', { name: 'Run not found' }).waitFor();
  await page.goto(`${stack.baseUrl}/console/#/account`);
  await page.getByRole('heading', { name: 'Not found' }).waitFor();

  await page.goto(`${stack.baseUrl}/console/#/runs/new`);
  await page.getByLabel('Prompt').fill('from the end user');
  await page.getByRole('button', { name: 'Start run' }).click();
  await waitForStatus(page, 'succeeded');
  const created = await runIdInHash(page);
  expect((await rw.runs.get(created)).user).toBe('dave');

  // Revoked: the next call is a 401, shown as the session having ended.
  await rw.tokens.revokeAll();
  await page.goto(`${stack.baseUrl}/console/#/runs`);
  await page.getByRole('alert').filter({ hasText: 'Your session has expired or the key is invalid — sign in again' }).waitFor();
  await page.getByRole('button', { name: 'Sign in again' }).click();
  await page.getByLabel('API key').waitFor();
});

test('a #token= link never replaces the tab\'s sign-in without asking', async () => {
  const account = await createAccount(stack, 100_000);
  const rw = sdkFor(account);
  const { token } = await rw.tokens.create({ scope: { user: 'mallory' }, permissions: ['read', 'create'] });
  const page = await openPage();
  await signIn(page, account);
  // A link sent to someone signed in with their account key: asked, scope shown, and declined.
  await page.goto(`${stack.baseUrl}/console/#token=${encodeURIComponent(token)}`);
  await page.getByRole('heading', { name: 'Open this link?' }).waitFor();
  expect(await page.getByRole('status').textContent()).toContain('This tab is signed in as Account key');
  expect(await page.getByTestId('link-scope').textContent()).toBe('the runs and sessions of end user mallory');
  await shot(page, 'token-link-prompt');
  await page.getByRole('button', { name: 'Keep the current sign-in' }).click();
  const nav = page.getByRole('navigation', { name: 'Console' });
  await nav.getByRole('link', { name: 'Account' }).waitFor();
  expect(await page.getByText('Account key').count()).toBeGreaterThan(0);
  // Reloading does not bring the link back (it left the address bar), and the key is still the tab's.
  await page.reload();
  await nav.getByRole('link', { name: 'Webhooks' }).waitFor();
  // Asked again and accepted: now the tab is the end user's.
  await page.goto(`${stack.baseUrl}/console/#token=${encodeURIComponent(token)}`);
  await page.getByRole('button', { name: 'Use this link' }).click();
  await page.getByText('End user mallory').first().waitFor();
  expect(await nav.getByRole('link').allTextContents()).toEqual(['Runs', 'Sessions']);
  // Even a read-only link asks before it replaces a sign-in.
  const accepted = await rw.runs.create({ prompt: 'read only' });
  await page.goto(`${stack.baseUrl}/console/#token=${encodeURIComponent(accepted.publicAccessToken)}`);
  await page.getByRole('heading', { name: 'Open this link?' }).waitFor();
  expect(await page.getByTestId('link-scope').textContent()).toBe(`run ${accepted.id}`);
  expect(await page.getByRole('status').textContent()).toContain('End user mallory');
});

test('a run-scoped token (a 202\'s publicAccessToken) opens that one run', async () => {
  const account = await createAccount(stack, 100_000);
  const accepted = await sdkFor(account).runs.create({ prompt: 'just this one' });
  const page = await openPage();
  await page.goto(`${stack.baseUrl}/console/#token=${encodeURIComponent(accepted.publicAccessToken)}`);
  await page.getByRole('heading', { name: `Run ${accepted.id}` }).waitFor();
  await waitForStatus(page, 'succeeded');
  expect(await outputOf(page)).toBe('just this one');
  expect(await page.getByRole('button', { name: 'Stop' }).count()).toBe(0);
  expect(await page.getByRole('navigation', { name: 'Console' }).getByRole('link').allTextContents()).toEqual(['Runs']);
});

test('a run the account cannot pay for is shown as insufficient credits', async () => {
  const account = await createAccount(stack, 3);
  const page = await openPage();
  await signIn(page, account);
  await page.getByRole('link', { name: 'New run' }).click();
  await page.getByLabel('Prompt').fill('too expensive');
  await page.getByLabel('Max tokens').fill('100');
  await page.getByRole('button', { name: 'Start run' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'Insufficient credits' });
  await alert.waitFor();
  expect(await alert.textContent()).toMatch(/This run needs \d+ credits; 3 are available/);
  await page.getByRole('link', { name: 'Runs' }).click();
  await page.getByText('No runs yet.').waitFor();
});
