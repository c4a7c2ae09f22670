import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Runway, type RunStep, type RunwayEvent } from '../packages/client/src/index';
import { appendEventsNow, runStream } from '../src/db/run-events';
import { beginModelStep, beginToolStep, finishModelStep, finishToolStep } from '../src/db/run-steps';
import type { ModelStepData } from '../src/tools/types';
import { createAccount, waitForRun, type TestAccount } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';
import { TcpProxy } from './helpers/tcp-proxy';
import { applyStepEvent, EMPTY_TIMELINE, MAX_SHOWN, mergeSteps } from '../packages/console/src/timeline';

// The console's sources import the SDK by its package name (its built ESM); tests load its TypeScript.
jest.mock('@runway/client', () => jest.requireActual('../packages/client/src/index'));

/**
 * An agent run's timeline on the console's run page (issue #28), in Debian's Chromium as in
 * console.test.ts. The tool executors are not needed: the steps and their events are written
 * straight into the database, as the agent loop writes them, for runs admitted through the API.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = path.join(__dirname, 'artifacts');
interface BrowserGlobals {
  document: { querySelector(selector: string): { textContent: string | null } | null; documentElement: { scrollWidth: number } };
  pwned?: unknown;
}
const HOSTILE = '<script>globalThis.pwned = 1</script><img src=x onerror="globalThis.pwned = 2">';
/** A line with no break: it must not widen the page. */
const LONG_LINE = 'y'.repeat(400);

let stack: TestStack;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  stack = await startStack({ env: { RUNWAY_DEMO_DELAY_MS: '20' } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const sdkFor = (account: TestAccount) => new Runway({ baseUrl: stack.baseUrl, apiKey: account.apiKey });

async function openRunPage(account: TestAccount, runId: string, baseUrl = stack.baseUrl): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log(`console page error: ${err.message}`));
  await page.goto(`${baseUrl}/console/`);
  await page.getByLabel('API key').fill(account.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
  await page.goto(`${baseUrl}/console/#/runs/${runId}`);
  await page.getByRole('heading', { name: `Run ${runId}` }).waitFor();
  return page;
}

const stepAt = (page: Page, index: number) => page.locator(`[data-testid=timeline] > li[data-index="${index}"]`);

function modelTurn(text: string, calls: ModelStepData['toolCalls'], usage: ModelStepData['usage'], cost: number): ModelStepData {
  return { text, toolCalls: calls, usage, cost, attempt: 1 };
}

/** A finished transcript as the agent loop records it: turn, two tool calls (one failed), final turn. */
async function recordTranscript(runId: string): Promise<void> {
  const db = stack.db;
  const delta = (text: string) => appendEventsNow(db, runStream(runId), [{ type: 'delta', data: { text } }]);
  const calls = [
    { id: 'call_read', name: 'read_file', arguments: '{"path":"notes/todo.txt"}' },
    { id: 'call_run', name: 'run_command', arguments: '{"command":"make test"}' },
  ];
  await beginModelStep(db, runId, 0, 1);
  await delta('I will read the notes.');
  await finishModelStep(db, runId, 0, modelTurn('I will read the notes.', calls, { inputTokens: 120, outputTokens: 17 }, 9));
  await beginToolStep(db, runId, 1, { callId: 'call_read', name: 'read_file', arguments: calls[0]!.arguments, turn: 0 });
  await finishToolStep(db, runId, 1, { result: `line one\n${HOSTILE}\n${LONG_LINE}`, truncated: true, sandboxMs: 0, durationMs: 1500, cost: 0 });
  await beginToolStep(db, runId, 2, { callId: 'call_run', name: 'run_command', arguments: calls[1]!.arguments, turn: 0 });
  await finishToolStep(db, runId, 2, { result: 'FAIL 2 tests', truncated: false, error: 'the command exited with status 2', sandboxMs: 40, durationMs: 40, cost: 1 });
  await beginModelStep(db, runId, 3, 1);
  await delta('All done.');
  await finishModelStep(db, runId, 3, modelTurn('All done.', [], { inputTokens: 200, outputTokens: 3 }, 11));
}

test('a finished agent run: its model turns and tool calls, filled from its steps; tool text shown as text', async () => {
  const account = await createAccount(stack, 100_000);
  const rw = sdkFor(account);
  const { id } = await rw.runs.create({ prompt: 'plain prompt', maxTokens: 20 });
  await waitForRun(stack, account, id);
  await recordTranscript(id);

  const page = await openRunPage(account, id);
  await page.getByRole('heading', { name: 'Steps' }).waitFor();
  await stepAt(page, 3).waitFor();
  expect(await page.locator('[data-testid=timeline] > li').count()).toBe(4);
  expect(await page.locator('[data-testid=timeline] > li').evaluateAll((items) => items.map((li) => li.getAttribute('data-kind')))).toEqual(['model', 'tool', 'tool', 'model']);

  // A model turn: its tokens, duration and cost; its text collapsed until asked for.
  const first = stepAt(page, 0);
  expect(await first.textContent()).toContain('120 in / 17 out tokens');
  expect(await first.textContent()).toContain('9 credits');
  expect(await first.textContent()).toContain('2 tool calls');
  const text = first.locator('pre.timeline-text');
  expect(await text.isVisible()).toBe(false);
  await first.locator('summary').click();
  expect(await text.textContent()).toBe('I will read the notes.');
  expect(await text.isVisible()).toBe(true);

  // A tool call: name, arguments (indented JSON), result with its truncated mark; markup is text.
  const read = stepAt(page, 1);
  expect(await read.locator('.timeline-name').textContent()).toBe('read_file');
  expect(await read.textContent()).toContain('1.5 s');
  expect(await read.locator('pre').first().textContent()).toBe('{\n  "path": "notes/todo.txt"\n}');
  expect(await read.locator('pre').last().textContent()).toBe(`line one\n${HOSTILE}\n${LONG_LINE}`);
  expect(await read.locator('.timeline-truncated').textContent()).toBe('truncated');
  expect(await page.locator('[data-testid=timeline] script, [data-testid=timeline] img').count()).toBe(0);
  expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).pwned)).toBeUndefined();

  // A failed call: its error, and what the model was told.
  const failed = stepAt(page, 2);
  expect(await failed.locator('.timeline-name').textContent()).toBe('run_command');
  expect(await failed.locator('.timeline-error').textContent()).toBe('Error the command exited with status 2');
  expect(await failed.textContent()).toContain('FAIL 2 tests');
  expect(await failed.locator('.timeline-truncated').count()).toBe(0);
  expect(await stepAt(page, 3).textContent()).toContain('200 in / 3 out tokens');
  await page.screenshot({ path: path.join(ARTIFACTS, 'run-agent-timeline.png'), fullPage: true });
  // On a phone the timeline fits the screen's width (long lines wrap or scroll inside their box).
  await page.setViewportSize({ width: 375, height: 800 });
  expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  await page.screenshot({ path: path.join(ARTIFACTS, 'run-agent-timeline-narrow.png'), fullPage: true });
  await page.context().close();
});

test('a plain run\'s page has no timeline', async () => {
  const account = await createAccount(stack, 100_000);
  const rw = sdkFor(account);
  const { id } = await rw.runs.create({ prompt: 'just text', maxTokens: 20 });
  const run = await waitForRun(stack, account, id);
  const page = await openRunPage(account, id);
  await page.waitForFunction((out) => (globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid=output]')?.textContent === out, run.output);
  expect(await page.getByRole('heading', { name: 'Steps' }).count()).toBe(0);
  expect(await page.getByTestId('timeline').count()).toBe(0);
  expect(await page.locator('.facts').textContent()).not.toContain('Tools');
  await page.context().close();
});

test('a running agent run\'s timeline follows its events live; the output is the last turn\'s text, as the server\'s', async () => {
  const account = await createAccount(stack, 100_000);
  const rw = sdkFor(account);
  // No worker: the run stays queued while the test writes its steps as the agent loop would.
  await stack.stopWorker();
  let id = '';
  let page!: Page;
  try {
    ({ id } = await rw.runs.create({ prompt: 'echo me', maxTokens: 20 }));
    page = await openRunPage(account, id);
    const db = stack.db;
    const delta = (text: string) => appendEventsNow(db, runStream(id), [{ type: 'delta', data: { text } }]);

    await beginModelStep(db, id, 0, 1);
    await delta('Looking <b>around</b>');
    await stepAt(page, 0).locator('text=running…').waitFor();
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid=output]')?.textContent === 'Looking <b>around</b>');

    await finishModelStep(db, id, 0, modelTurn('Looking <b>around</b>', [{ id: 'c1', name: 'list_files', arguments: '{}' }], { inputTokens: 30, outputTokens: 4 }, 2));
    await beginToolStep(db, id, 1, { callId: 'c1', name: 'list_files', arguments: '{}', turn: 0 });
    await stepAt(page, 1).locator('.timeline-name', { hasText: 'list_files' }).waitFor();
    // The finished turn's numbers come from the API once the next step began.
    await stepAt(page, 0).locator('text=30 in / 4 out tokens').waitFor();

    await finishToolStep(db, id, 1, { result: 'a.txt\nb.txt', truncated: false, sandboxMs: 0, durationMs: 12, cost: 0 });
    await stepAt(page, 1).locator('pre', { hasText: 'b.txt' }).waitFor();

    // The next model turn starts the output over.
    await beginModelStep(db, id, 2, 1);
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid=output]')?.textContent === '');
    await delta('Two files.');
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid=output]')?.textContent === 'Two files.');
    await stepAt(page, 2).locator('summary').click();
    expect(await stepAt(page, 2).locator('pre.timeline-text').textContent()).toBe('Two files.');
    expect(await page.locator('[data-testid=timeline] b').count()).toBe(0);
  } finally {
    await stack.startWorker();
  }
  // The worker now runs it (the demo echoes its prompt into the current turn) to its end.
  const run = await waitForRun(stack, account, id);
  expect(run.status).toBe('succeeded');
  expect(run.output.startsWith('Two files.')).toBe(true);
  await page.waitForFunction((out) => (globalThis as unknown as BrowserGlobals).document.querySelector('[data-testid=output]')?.textContent === out, run.output);
  await page.context().close();
});

test('after a dropped connection the timeline catches up: the steps are read again on resume', async () => {
  const account = await createAccount(stack, 100_000);
  const rw = sdkFor(account);
  // The browser reaches the API through a proxy the test cuts, as a network drop would.
  const proxy = new TcpProxy({ host: '127.0.0.1', port: Number(new URL(stack.baseUrl).port) });
  await proxy.start();
  await stack.stopWorker();
  let id = '';
  let page!: Page;
  try {
    ({ id } = await rw.runs.create({ prompt: 'resume me', maxTokens: 20 }));
    page = await openRunPage(account, id, `http://127.0.0.1:${proxy.port}`);
    const db = stack.db;
    await beginModelStep(db, id, 0, 1);
    await stepAt(page, 0).waitFor();
    const stepReads: string[] = [];
    page.on('request', (req) => {
      if (req.url().includes(`/v1/runs/${id}/steps`)) stepReads.push(req.url());
    });
    await proxy.cut();
    await page.locator('.status-line', { hasText: 'reconnecting…' }).waitFor();
    await finishModelStep(db, id, 0, modelTurn('', [{ id: 'c1', name: 'search', arguments: '{"q":"x"}' }], { inputTokens: 8, outputTokens: 2 }, 1));
    await beginToolStep(db, id, 1, { callId: 'c1', name: 'search', arguments: '{"q":"x"}', turn: 0 });
    await finishToolStep(db, id, 1, { result: 'one hit', truncated: false, sandboxMs: 0, durationMs: 5, cost: 0 });
    await proxy.restore();
    await stepAt(page, 1).locator('pre', { hasText: 'one hit' }).waitFor({ timeout: 20_000 });
    await stepAt(page, 0).locator('text=8 in / 2 out tokens').waitFor();
    expect(await page.locator('.status-line', { hasText: 'reconnecting…' }).count()).toBe(0);
    expect(stepReads.length).toBeGreaterThan(0);
  } finally {
    await stack.startWorker();
    await proxy.cut();
  }
  await waitForRun(stack, account, id);
  await page.context().close();
});

describe('the timeline\'s state (packages/console/src/timeline.ts)', () => {
  let nextId = 1;
  const ev = (type: string, data: unknown): RunwayEvent => ({ id: nextId++, type, data });

  test('a run of many steps keeps a bounded window of the newest', () => {
    let t = EMPTY_TIMELINE;
    for (let i = 0; i < 1000; i++) t = applyStepEvent(t, ev('step', { index: i, kind: i % 2 === 0 ? 'model' : 'tool' }));
    expect(t.steps).toHaveLength(MAX_SHOWN);
    expect(t.steps[0]?.index).toBe(1000 - MAX_SHOWN);
    expect(t.earlier).toBe(1000 - MAX_SHOWN);
  });

  test('the API\'s finished copy of a step wins; of a turn still going, the events\' text is kept', () => {
    let t = applyStepEvent(EMPTY_TIMELINE, ev('step', { index: 0, kind: 'model' }));
    t = applyStepEvent(t, ev('delta', { text: 'so far' }));
    const going: RunStep = { index: 0, kind: 'model', startedAt: 'x', finishedAt: null, durationMs: null, text: '', toolCalls: [], usage: { inputTokens: 5, outputTokens: 0 }, cost: 0 };
    expect(mergeSteps(t, [going]).steps[0]).toMatchObject({ text: 'so far', usage: { inputTokens: 5 } });
    const done: RunStep = { ...going, finishedAt: 'y', durationMs: 10, text: 'so far, and more', cost: 3 };
    expect(mergeSteps(t, [done]).steps[0]).toEqual(done);
  });

  test('a tool result goes to its call; one for an unknown call changes nothing', () => {
    let t = applyStepEvent(EMPTY_TIMELINE, ev('step', { index: 0, kind: 'tool' }));
    t = applyStepEvent(t, ev('tool_call', { callId: 'c', name: 'search', arguments: '{"q":"x"}' }));
    expect(applyStepEvent(t, ev('tool_result', { callId: 'other', result: 'r', truncated: false }))).toBe(t);
    t = applyStepEvent(t, ev('tool_result', { callId: 'c', result: 'found', truncated: true, error: 'partial' }));
    expect(t.steps[0]).toMatchObject({ name: 'search', result: 'found', truncated: true, error: 'partial' });
  });
});
