import { setTimeout as sleep } from 'node:timers/promises';
import { accountOf, bearer, createAccount, expectLedgerConsistent, ledgerOf, startRun, waitForRun } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { startStack, type TestStack } from './helpers/stack';
import { estimateOpenAiTokens } from '../src/providers/estimate-tokens';

// Easy arithmetic: 0.1 credit per input token, 1 credit per output token.
const PRICE = { input: 100, output: 1000 };
const MODEL = 'openai/test-model';
const IDLE_MS = 2500;
const OPERATOR_KEY = 'sk-operator-0123456789';

const expectedCharge = (inputTokens: number, outputTokens: number, estimate: number) =>
  Math.min(estimate, Math.ceil((inputTokens * PRICE.input + outputTokens * PRICE.output) / 1000));
const estimateOf = (prompt: string, maxTokens: number) =>
  expectedCharge(estimateOpenAiTokens([{ role: 'user', content: prompt }], 'test-model'), maxTokens, Number.MAX_SAFE_INTEGER);

let stack: TestStack;
const fake = new FakeOpenAi();
beforeAll(async () => {
  await fake.start();
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_OPENAI_API_KEY: OPERATOR_KEY,
      RUNWAY_PRICES: JSON.stringify({ [MODEL]: PRICE }),
      RUNWAY_PROVIDER_IDLE_TIMEOUT_MS: String(IDLE_MS),
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
});

/** The fake's requests made from now on. */
function requestsFrom() {
  const start = fake.requests.length;
  return () => fake.requests.slice(start);
}

async function eventTypes(runId: string): Promise<string[]> {
  const rows = await stack.db.selectFrom('run_events').select('type').where('run_id', '=', runId).orderBy('id').execute();
  return rows.map((r) => r.type);
}

describe('openai/* against an OpenAI-compatible streaming server', () => {
  test('a slow stream succeeds, its deltas arrive while it runs, and the charge follows the reported usage', async () => {
    const account = await createAccount(stack, 1000);
    const tokens = Array.from({ length: 8 }, (_, i) => `part${i} `);
    fake.enqueue({ kind: 'stream', tokens, delayMs: 150, usage: { prompt_tokens: 13, completion_tokens: 8 } });
    const requests = requestsFrom();
    const prompt = 'stream slowly please';
    const res = await startRun(stack, account, { prompt, model: MODEL, maxTokens: 40 });
    expect(res.status).toBe(202);
    expect(res.body.estimate).toBe(estimateOf(prompt, 40));

    const partial = await waitForRun(stack, account, res.body.id, (r) => r.output.length > 0);
    expect(partial.status).toBe('running');
    expect(partial.output.length).toBeLessThan(tokens.join('').length);

    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe(tokens.join(''));
    expect(run.usage).toEqual({ inputTokens: 13, outputTokens: 8 });
    expect(run.cost).toEqual({ estimate: res.body.estimate, charged: expectedCharge(13, 8, res.body.estimate), refunded: res.body.estimate - expectedCharge(13, 8, res.body.estimate) });
    expect((await eventTypes(run.id)).filter((t) => t === 'delta').length).toBeGreaterThanOrEqual(3);

    const [request] = requests();
    expect(request?.body).toMatchObject({ model: 'test-model', stream: true, stream_options: { include_usage: true }, max_tokens: 40 });
    expect(request?.body.messages).toEqual([{ role: 'user', content: prompt }]);
    expect(request?.authorization).toBe(`Bearer ${OPERATOR_KEY}`);
    await expectLedgerConsistent(stack, account);
  });

  test('500 then success: succeeded, charged once for the final attempt’s usage', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'status', status: 500 }, { kind: 'stream', tokens: ['a', 'b', 'c'], usage: { prompt_tokens: 20, completion_tokens: 3 } });
    const requests = requestsFrom();
    const res = await startRun(stack, account, { prompt: 'retry me', model: MODEL, maxTokens: 20 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.attempt).toBe(2);
    expect(requests()).toHaveLength(2);
    expect(run.usage).toEqual({ inputTokens: 20, outputTokens: 3 });
    expect(run.cost.charged).toBe(expectedCharge(20, 3, res.body.estimate));
    const charges = (await ledgerOf(stack, account)).filter((e) => e.runId === run.id && e.kind === 'charge');
    expect(charges.map((e) => e.amount)).toEqual([expectedCharge(20, 3, res.body.estimate)]);
    await expectLedgerConsistent(stack, account);
  });

  test('400: failed with provider_http_400 at the first attempt, fully refunded', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'status', status: 400 });
    const requests = requestsFrom();
    const res = await startRun(stack, account, { prompt: 'bad request', model: MODEL, maxTokens: 20 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'provider_http_400', message: expect.stringContaining('fake error 400') });
    expect(run.cost).toEqual({ estimate: res.body.estimate, charged: 0, refunded: res.body.estimate });
    await sleep(1500); // longer than the first retry interval: nothing more may come
    expect(requests()).toHaveLength(1);
    expect(await accountOf(stack, account)).toMatchObject({ balance: 1000, reserved: 0 });
    await expectLedgerConsistent(stack, account);
  });

  test('429 with Retry-After: the next attempt waits as long as asked', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'status', status: 429, retryAfter: '3' }, { kind: 'stream', tokens: ['ok'], usage: { prompt_tokens: 5, completion_tokens: 1 } });
    const requests = requestsFrom();
    const res = await startRun(stack, account, { prompt: 'rate limited', model: MODEL, maxTokens: 10 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    const [first, second] = requests();
    // The retry policy alone would come back after 1 s.
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(2900);
    expect(run.cost.charged).toBe(expectedCharge(5, 1, res.body.estimate));
    await expectLedgerConsistent(stack, account);
  });

  test('a hung provider: stop ends the run and the provider sees its connection aborted', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'hang' });
    const requests = requestsFrom();
    const abortedBefore = fake.aborted;
    const res = await startRun(stack, account, { prompt: 'hang forever', model: MODEL, maxTokens: 10 });
    while (requests().length === 0) await sleep(20);
    const stop = await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    expect(stop.status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id, undefined, 5000);
    expect(run.status).toBe('stopped');
    // The stop ended the call itself: no idle timeout (IDLE_MS) fired, so no attempt was retried.
    expect(requests()).toHaveLength(1);
    const deadline = Date.now() + 2000;
    while (fake.aborted === abortedBefore && Date.now() < deadline) await sleep(20);
    expect(fake.aborted).toBe(abortedBefore + 1);
    expect(run.cost).toEqual({ estimate: res.body.estimate, charged: 0, refunded: res.body.estimate });
    await expectLedgerConsistent(stack, account);
  });

  test('a provider silent past the idle timeout is abandoned and retried', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'hang' }, { kind: 'stream', tokens: ['x', 'y'], usage: { prompt_tokens: 4, completion_tokens: 2 } });
    const requests = requestsFrom();
    const abortedBefore = fake.aborted;
    const res = await startRun(stack, account, { prompt: 'hang once', model: MODEL, maxTokens: 10 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.attempt).toBe(2);
    const [first, second] = requests();
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(IDLE_MS);
    expect(fake.aborted).toBe(abortedBefore + 1);
    expect(run.cost.charged).toBe(expectedCharge(4, 2, res.body.estimate));
    await expectLedgerConsistent(stack, account);
  });

  test('without a usage chunk the deltas are counted and the input is the estimate', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'stream', tokens: ['one ', 'two ', 'three ', 'four'], usage: null });
    const prompt = 'a server that ignores stream_options';
    const res = await startRun(stack, account, { prompt, model: MODEL, maxTokens: 10 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    const inputTokens = estimateOpenAiTokens([{ role: 'user', content: prompt }], 'test-model');
    expect(run.usage).toEqual({ inputTokens, outputTokens: 4 });
    expect(run.cost.charged).toBe(expectedCharge(inputTokens, 4, res.body.estimate));
    await expectLedgerConsistent(stack, account);
  });

  test('reported usage above the reservation is charged: the overrun has its own ledger entry and may take the balance below zero', async () => {
    const account = await createAccount(stack, 50);
    // More than the tokenizer counts, within what the call could use (a provider's own framing).
    fake.enqueue({ kind: 'stream', tokens: ['big'], usage: { prompt_tokens: 1_000, completion_tokens: 1 } });
    const res = await startRun(stack, account, { prompt: 'over', model: MODEL, maxTokens: 10 });
    const estimate = res.body.estimate as number;
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    const used = Math.ceil((1_000 * PRICE.input + 1 * PRICE.output) / 1000); // 101 credits
    expect(run.cost).toEqual({ estimate, charged: used, refunded: 0 });
    const entries = (await ledgerOf(stack, account)).filter((e) => e.runId === run.id);
    expect(entries.map((e) => [e.kind, e.amount])).toEqual([
      ['overrun', used - estimate],
      ['refund', 0],
      ['charge', estimate],
      ['reserve', estimate],
    ]);
    // Below zero by the overrun, and only by it.
    expect(await accountOf(stack, account)).toMatchObject({ balance: 50 - used, reserved: 0 });
    await expectLedgerConsistent(stack, account);
    // A balance below zero admits nothing more.
    const next = await startRun(stack, account, { prompt: 'again', model: MODEL, maxTokens: 10 });
    expect(next.status).toBe(402);
  });

  test('an unknown model or one without a provider is a 400 before anything is reserved', async () => {
    const account = await createAccount(stack, 1000);
    for (const model of ['nosuch/model', 'cli/not-configured', 'anthropicx/claude']) {
      const res = await startRun(stack, account, { prompt: 'x', model, maxTokens: 10 });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ type: 'https://runway.dev/problems/unknown-model', errors: [{ path: 'model' }] });
    }
    expect(await accountOf(stack, account)).toMatchObject({ balance: 1000, reserved: 0 });
    expect((await ledgerOf(stack, account)).map((e) => e.kind)).toEqual(['credit']);
    expect((await stack.http.get('/v1/runs').set(bearer(account))).body.data).toEqual([]);
  });
});
