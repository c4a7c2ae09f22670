import { bearer, createAccount, expectLedgerConsistent, waitForRun } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { startStack, type TestStack } from './helpers/stack';

const PRICES = JSON.stringify({ 'openai/chat': { input: 1000, output: 1000 } });

let stack: TestStack;
let worker: PlatformProcess | undefined;
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['fine'] });
const env = () => ({ ...stackEnv(stack), RUNWAY_OPENAI_BASE_URL: fake.baseUrl, RUNWAY_PRICES: PRICES });

beforeAll(async () => {
  await fake.start();
  stack = await startStack({ worker: false, env: { RUNWAY_OPENAI_BASE_URL: fake.baseUrl, RUNWAY_PRICES: PRICES } });
});
afterAll(async () => {
  await worker?.kill('SIGKILL');
  await stack?.stop();
  await fake.stop();
});

test('a worker killed between requests loses nothing: later requests queue, then run in order', async () => {
  worker = await spawnWorker(env());
  const account = await createAccount(stack, 100_000);
  const session = await stack.http.post('/v1/sessions').set(bearer(account)).send({ model: 'openai/chat', maxTokens: 10 });
  const ask = (prompt: string) => stack.http.post(`/v1/sessions/${session.body.id}/requests`).set(bearer(account)).send({ prompt });

  fake.enqueue({ kind: 'stream', tokens: ['one'] });
  const first = await ask('first');
  expect((await waitForRun(stack, account, first.body.runId)).output).toBe('one');

  await worker.kill('SIGKILL');
  // With no worker at all, requests are still admitted at once (credits reserved) and wait.
  fake.enqueue({ kind: 'stream', tokens: ['two'] }, { kind: 'stream', tokens: ['three'] });
  const second = await ask('second');
  const third = await ask('third');
  expect([second.status, third.status]).toEqual([202, 202]);
  expect((await stack.http.get(`/v1/runs/${second.body.runId}`).set(bearer(account))).body.status).toBe('queued');

  const before = fake.requests.length;
  worker = await spawnWorker(env());
  const r2 = await waitForRun(stack, account, second.body.runId, undefined, 60_000);
  const r3 = await waitForRun(stack, account, third.body.runId, undefined, 60_000);
  expect([r2.output, r3.output]).toEqual(['two', 'three']);
  expect(Date.parse(r3.startedAt!)).toBeGreaterThanOrEqual(Date.parse(r2.completedAt!));
  // The third request saw both earlier turns, in order.
  expect(fake.requests[before + 1]!.body.messages.map((m) => m.content)).toEqual(['first', 'one', 'second', 'two', 'third']);
  await expectLedgerConsistent(stack, account);
}, 180_000);
