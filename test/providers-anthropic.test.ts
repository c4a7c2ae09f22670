import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, createAccount, expectLedgerConsistent, ledgerOf, startRun, waitForRun } from './helpers/api';
import { FakeAnthropic } from './helpers/fake-anthropic';
import { startStack, type TestStack } from './helpers/stack';
import { estimateByBytes } from '../src/providers/estimate-tokens';
import { BUILT_IN_PRICES } from '../src/pricing';

const PRICE = { input: 100, output: 1000 };
const MODEL = 'anthropic/test-claude';
const OPERATOR_KEY = 'sk-ant-operator-0123456789';

const charge = (inputTokens: number, outputTokens: number, estimate: number, price = PRICE) =>
  Math.min(estimate, Math.ceil((inputTokens * price.input + outputTokens * price.output) / 1000));

let stack: TestStack;
const fake = new FakeAnthropic();
beforeAll(async () => {
  await fake.start();
  stack = await startStack({
    env: {
      RUNWAY_ANTHROPIC_BASE_URL: fake.baseUrl,
      RUNWAY_ANTHROPIC_API_KEY: OPERATOR_KEY,
      RUNWAY_PRICES: JSON.stringify({ [MODEL]: PRICE }),
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
});

function requestsFrom() {
  const start = fake.requests.length;
  return () => fake.requests.slice(start);
}

describe('anthropic/* against a Messages API streaming server', () => {
  test('streams text deltas; input from message_start, output from message_delta; x-api-key and anthropic-version sent', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'stream', tokens: ['Bonjour', ', ', 'monde'], delayMs: 100, usage: { input_tokens: 17, output_tokens: 4 } });
    const requests = requestsFrom();
    const prompt = 'say hello in French';
    const res = await startRun(stack, account, { prompt, model: MODEL, maxTokens: 30 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('Bonjour, monde');
    expect(run.usage).toEqual({ inputTokens: 17, outputTokens: 4 });
    expect(run.cost.charged).toBe(charge(17, 4, res.body.estimate));
    expect(run.truncated).toBe(false);
    expect(requests()).toEqual([
      {
        apiKey: OPERATOR_KEY,
        version: '2023-06-01',
        body: { model: 'test-claude', max_tokens: 30, stream: true, messages: [{ role: 'user', content: prompt }] },
      },
    ]);
    await expectLedgerConsistent(stack, account);
  });

  test('the run’s transient key replaces the operator’s', async () => {
    const account = await createAccount(stack, 1000);
    const requests = requestsFrom();
    const res = await startRun(stack, account, { prompt: 'mine', model: MODEL, maxTokens: 5, secrets: { apiKey: 'sk-ant-run-key-42' } });
    expect((await waitForRun(stack, account, res.body.id)).status).toBe('succeeded');
    expect(requests().map((r) => r.apiKey)).toEqual(['sk-ant-run-key-42']);
  });

  test('stop_reason max_tokens ends the run truncated at the cap', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'stream', tokens: ['a ', 'b ', 'c ', 'd ', 'e ', 'f '] });
    const res = await startRun(stack, account, { prompt: 'long answer', model: MODEL, maxTokens: 3 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.truncated).toBe(true);
    expect(run.output).toBe('a b c ');
    expect(run.usage).toEqual({ inputTokens: 9, outputTokens: 3 });
    await expectLedgerConsistent(stack, account);
  });

  test('an overloaded_error event mid-stream is retried; only the final attempt is charged', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue(
      { kind: 'error-event', tokens: ['partial ', 'answer '], type: 'overloaded_error' },
      { kind: 'stream', tokens: ['whole answer'], usage: { input_tokens: 12, output_tokens: 2 } },
    );
    const requests = requestsFrom();
    const res = await startRun(stack, account, { prompt: 'try twice', model: MODEL, maxTokens: 20 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.attempt).toBe(2);
    expect(requests()).toHaveLength(2);
    expect(run.output).toBe('whole answer');
    expect(run.usage).toEqual({ inputTokens: 12, outputTokens: 2 });
    const charges = (await ledgerOf(stack, account)).filter((e) => e.runId === run.id && e.kind === 'charge');
    expect(charges.map((e) => e.amount)).toEqual([charge(12, 2, res.body.estimate)]);
    await expectLedgerConsistent(stack, account);
  });

  test('529 overloaded is retried; 401 fails at once with a full refund', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'status', status: 529, errorType: 'overloaded_error' }, { kind: 'stream', tokens: ['fine'] });
    const retried = await startRun(stack, account, { prompt: 'busy', model: MODEL, maxTokens: 5 });
    expect((await waitForRun(stack, account, retried.body.id)).status).toBe('succeeded');

    fake.enqueue({ kind: 'status', status: 401, errorType: 'authentication_error' });
    const requests = requestsFrom();
    const res = await startRun(stack, account, { prompt: 'wrong key', model: MODEL, maxTokens: 5 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('provider_http_401');
    expect(run.cost).toEqual({ estimate: res.body.estimate, charged: 0, refunded: res.body.estimate });
    await sleep(1500);
    expect(requests()).toHaveLength(1);
    await expectLedgerConsistent(stack, account);
  });

  test('a hung stream is stopped and its connection closed', async () => {
    const account = await createAccount(stack, 1000);
    fake.enqueue({ kind: 'hang' });
    const requests = requestsFrom();
    const abortedBefore = fake.aborted;
    const res = await startRun(stack, account, { prompt: 'hang', model: MODEL, maxTokens: 5 });
    while (requests().length === 0) await sleep(20);
    const asked = Date.now();
    expect((await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account))).status).toBe(202);
    const run = await waitForRun(stack, account, res.body.id, undefined, 5000);
    expect(run.status).toBe('stopped');
    // Long before the provider's idle timeout (60 s) could have ended the call; one attempt only.
    expect(Date.now() - asked).toBeLessThan(10_000);
    expect(requests()).toHaveLength(1);
    const deadline = Date.now() + 2000;
    while (fake.aborted === abortedBefore && Date.now() < deadline) await sleep(20);
    expect(fake.aborted).toBe(abortedBefore + 1);
    await expectLedgerConsistent(stack, account);
  });

  test('built-in prices cover current Claude models and anthropic/*', async () => {
    const account = await createAccount(stack, 100_000);
    const prompt = 'priced';
    const inputTokens = estimateByBytes([{ role: 'user', content: prompt }]);
    for (const model of ['anthropic/claude-sonnet-4-5', 'anthropic/claude-haiku-4-5', 'anthropic/some-future-model']) {
      const price = BUILT_IN_PRICES[model] ?? BUILT_IN_PRICES['anthropic/*'];
      if (!price) throw new Error('anthropic/* has no built-in price');
      const res = await startRun(stack, account, { prompt, model, maxTokens: 10 });
      expect(res.status).toBe(202);
      expect(res.body.estimate).toBe(charge(inputTokens, 10, Number.MAX_SAFE_INTEGER, price));
      await waitForRun(stack, account, res.body.id);
    }
    await expectLedgerConsistent(stack, account);
  });
});
