import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { startStack, type TestStack } from './helpers/stack';
import { WebhookReceiver } from './helpers/webhook-receiver';

/** A worker process killed while a delivery is pending: the delivery survives, and arrives once. */
const WEBHOOK_ENV = {
  RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true',
  RUNWAY_WEBHOOK_RETRY_SCHEDULE: '4s,1s,1s',
  RUNWAY_WEBHOOK_TIMEOUT_MS: '3000',
  RUNWAY_WEBHOOK_POLL_MS: '500',
};
let stack: TestStack;
let worker: PlatformProcess | undefined;
const receiver = new WebhookReceiver();

beforeAll(async () => {
  await receiver.start();
  stack = await startStack({ worker: false, env: WEBHOOK_ENV });
});
afterAll(async () => {
  await worker?.kill('SIGKILL');
  await stack?.stop();
  await receiver.stop();
});

const env = () => ({ ...stackEnv(stack), ...WEBHOOK_ENV, RUNWAY_DEMO_DELAY_MS: '5' });

async function register(account: TestAccount, path: string) {
  const res = await stack.http.post('/v1/webhooks').set(bearer(account)).send({ url: receiver.url + path });
  expect(res.status).toBe(201);
  return { id: res.body.id as string, secret: res.body.secret as string };
}

async function delivery(account: TestAccount, webhookId: string, until: (d: Record<string, unknown>) => boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [d] = (await stack.http.get(`/v1/webhooks/${webhookId}/deliveries`).set(bearer(account))).body.data as Record<string, unknown>[];
    if (d && until(d)) return d;
    if (Date.now() > deadline) throw new Error(`delivery still ${JSON.stringify(d)}`);
    await sleep(100);
  }
}

test('killed between attempts: the next worker sends the retry when it is due, once', async () => {
  const account = await createAccount(stack);
  const hook = await register(account, '/between');
  receiver.script('/between', [500]);
  worker = await spawnWorker(env());
  const res = await startRun(stack, account, { prompt: 'durable webhooks', maxTokens: 5 });
  await waitForRun(stack, account, res.body.id);
  // The first attempt failed and was logged; the retry is a durable timer 4 s away.
  await delivery(account, hook.id, (d) => d.attempts === 1);
  await worker.kill('SIGKILL');
  worker = await spawnWorker(env());

  const d = await delivery(account, hook.id, (x) => x.status === 'delivered');
  expect(d).toMatchObject({ attempts: 2, lastStatusCode: 200, lastError: null });
  await sleep(1500);
  const got = receiver.on('/between');
  expect(got.map((g) => g.answered)).toEqual([500, 200]);
  expect(got.map((g) => g.headers['webhook-id'])).toEqual([d.id, d.id]);
  for (const g of got) expect(() => new Webhook(hook.secret).verify(g.body, g.headers)).not.toThrow();
}, 120_000);

test('killed during an attempt: the lost attempt is logged, and the delivery arrives once afterwards', async () => {
  const account = await createAccount(stack);
  const hook = await register(account, '/during');
  receiver.script('/during', ['hang']);
  worker ??= await spawnWorker(env());
  const res = await startRun(stack, account, { prompt: 'durable webhooks', maxTokens: 5 });
  await waitForRun(stack, account, res.body.id);
  await receiver.waitFor('/during', 1); // the receiver holds the first attempt open
  await worker.kill('SIGKILL');
  worker = await spawnWorker(env());

  // Its activity times out (HTTP timeout + 5 s), the workflow logs the attempt as lost and retries on schedule.
  const lost = await delivery(account, hook.id, (x) => x.attempts === 1, 60_000);
  expect(lost).toMatchObject({ status: 'pending', lastStatusCode: null, lastError: expect.stringMatching(/did not finish in time/) });
  const d = await delivery(account, hook.id, (x) => x.status === 'delivered', 90_000);
  expect(d).toMatchObject({ attempts: 2, lastStatusCode: 200, lastError: null });
  await sleep(1500);
  const got = receiver.on('/during');
  expect(got.map((g) => g.answered)).toEqual([0, 200]);
  expect(new Set(got.map((g) => g.headers['webhook-id']))).toEqual(new Set([d.id]));
}, 120_000);
