import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';
import { WebhookReceiver } from './helpers/webhook-receiver';
import { FakeOpenAi } from './helpers/fake-openai';
import { settleRunRecord } from '../src/db/runs';
import { createRunDeliveries } from '../src/db/webhooks';
import { ConfigError, loadConfig } from '../src/config';
import { openWebhookSecret } from '../src/webhooks/secret';

/** Completion webhooks against a real local receiver (issue #15). */
const PROBLEM = 'https://runway.dev/problems/';
const MAX_WEBHOOKS = 4;
let stack: TestStack;
const receiver = new WebhookReceiver();
/** A provider that refuses every call (a 400 is not retried): a run that ends `failed`. */
const refusing = new FakeOpenAi({ kind: 'status', status: 400, body: '{"error":{"message":"bad request"}}' });
let paths = 0;
const nextPath = () => `/hook-${++paths}`;

beforeAll(async () => {
  await receiver.start();
  await refusing.start();
  stack = await startStack({
    env: {
      RUNWAY_OPENAI_BASE_URL: refusing.baseUrl,
      RUNWAY_PRICES: JSON.stringify({ 'openai/chat': { input: 1000, output: 1000 } }),
      RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true',
      RUNWAY_WEBHOOK_RETRY_SCHEDULE: '200ms,200ms,200ms',
      RUNWAY_WEBHOOK_TIMEOUT_MS: '1000',
      RUNWAY_WEBHOOK_POLL_MS: '500',
      RUNWAY_MAX_WEBHOOKS: String(MAX_WEBHOOKS),
      RUNWAY_WEBHOOK_MAX_REDELIVERIES: '2',
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await receiver.stop();
  await refusing.stop();
});

async function register(account: TestAccount, body: Record<string, unknown> = {}) {
  const path = nextPath();
  const res = await stack.http.post('/v1/webhooks').set(bearer(account)).send({ url: receiver.url + path, ...body });
  expect(res.status).toBe(201);
  return { path, id: res.body.id as string, secret: res.body.secret as string, body: res.body };
}

async function finishedRun(account: TestAccount, body: Record<string, unknown> = {}) {
  const res = await startRun(stack, account, { prompt: 'hello webhook world', maxTokens: 10, ...body });
  expect(res.status).toBe(202);
  return waitForRun(stack, account, res.body.id);
}

async function deliveries(account: TestAccount, webhookId: string) {
  const res = await stack.http.get(`/v1/webhooks/${webhookId}/deliveries`).set(bearer(account));
  expect(res.status).toBe(200);
  return res.body.data as Record<string, unknown>[];
}

async function waitForDelivery(account: TestAccount, webhookId: string, until: (d: Record<string, unknown>) => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [d] = await deliveries(account, webhookId);
    if (d && until(d)) return d;
    if (Date.now() > deadline) throw new Error(`delivery still ${JSON.stringify(d)} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('endpoints', () => {
  test('registration returns the secret once; reads never show it', async () => {
    const account = await createAccount(stack);
    const { id, secret, body } = await register(account, { description: 'prod backend' });
    expect(body).toEqual({
      id: expect.stringMatching(/^wh_/),
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/hook-\d+$/),
      events: ['run.succeeded', 'run.failed', 'run.stopped'],
      description: 'prod backend',
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]+=*$/),
      disabled: false,
      createdAt: expect.any(String),
    });
    const raw = Buffer.from(secret.slice('whsec_'.length), 'base64');
    expect(raw.length).toBeGreaterThanOrEqual(24);
    expect(raw.length).toBeLessThanOrEqual(32);

    const one = await stack.http.get(`/v1/webhooks/${id}`).set(bearer(account));
    expect(one.status).toBe(200);
    const { secret: _s, ...view } = body;
    expect(one.body).toEqual(view);
    const list = await stack.http.get('/v1/webhooks').set(bearer(account));
    expect(list.body).toEqual({ data: [view], nextCursor: null });
    expect(JSON.stringify(list.body)).not.toContain(secret.slice(6));

    // At rest it is sealed: the row does not hold it in clear.
    const row = await stack.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(secret.slice(6));
  });

  test('unknown events, bad URLs and unknown fields are 400 problems; nothing is stored', async () => {
    const account = await createAccount(stack);
    for (const body of [
      { url: `${receiver.url}/x`, events: ['run.exploded'] },
      { url: `${receiver.url}/x`, events: [] },
      { url: 'not a url' },
      { url: 'ftp://example.com/hook' },
      { url: `${receiver.url}/x`, secret: 'whsec_mine' },
      {},
    ]) {
      const res = await stack.http.post('/v1/webhooks').set(bearer(account)).send(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    const list = await stack.http.get('/v1/webhooks').set(bearer(account));
    expect(list.body.data).toEqual([]);
  });

  test('patch, rotate and delete', async () => {
    const account = await createAccount(stack);
    const { id, secret } = await register(account);
    const patched = await stack.http
      .patch(`/v1/webhooks/${id}`)
      .set(bearer(account))
      .send({ events: ['run.failed'], description: null, disabled: true });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, events: ['run.failed'], description: null, disabled: true });
    expect(patched.body.secret).toBeUndefined();
    expect((await stack.http.patch(`/v1/webhooks/${id}`).set(bearer(account)).send({ events: ['nope'] })).status).toBe(400);

    const rotated = await stack.http.post(`/v1/webhooks/${id}/rotate-secret`).set(bearer(account));
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(secret);

    expect((await stack.http.delete(`/v1/webhooks/${id}`).set(bearer(account))).status).toBe(204);
    expect((await stack.http.get(`/v1/webhooks/${id}`).set(bearer(account))).status).toBe(404);
    expect((await stack.http.delete(`/v1/webhooks/${id}`).set(bearer(account))).status).toBe(404);
  });

  test(`an account may have ${MAX_WEBHOOKS} endpoints; one more is 429`, async () => {
    const account = await createAccount(stack);
    await Promise.all(Array.from({ length: MAX_WEBHOOKS }, () => register(account)));
    const over = await stack.http.post('/v1/webhooks').set(bearer(account)).send({ url: `${receiver.url}/over` });
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ type: `${PROBLEM}too-many-webhooks`, maxWebhooks: MAX_WEBHOOKS });
    // Concurrent registrations cannot pass the cap either.
    const other = await createAccount(stack);
    const burst = await Promise.all(
      Array.from({ length: MAX_WEBHOOKS + 3 }, () => stack.http.post('/v1/webhooks').set(bearer(other)).send({ url: `${receiver.url}/b` })),
    );
    expect(burst.filter((r) => r.status === 201)).toHaveLength(MAX_WEBHOOKS);
    expect(burst.filter((r) => r.status === 429)).toHaveLength(3);
  });

  test('every operation is in /openapi.json with its error responses', async () => {
    const doc = (await stack.http.get('/openapi.json')).body;
    const ops: [string, string, string[]][] = [
      // Every operation: 400 (any parameter), 401, 503 (PostgreSQL down); with an id: 404; with a body: 408, 413 and 415.
      ['/v1/webhooks', 'post', ['201', '400', '401', '408', '413', '415', '429', '503']],
      ['/v1/webhooks', 'get', ['200', '400', '401', '503']],
      ['/v1/webhooks/{id}', 'get', ['200', '400', '401', '404', '503']],
      ['/v1/webhooks/{id}', 'patch', ['200', '400', '401', '404', '408', '413', '415', '503']],
      ['/v1/webhooks/{id}', 'delete', ['204', '400', '401', '404', '503']],
      ['/v1/webhooks/{id}/rotate-secret', 'post', ['200', '400', '401', '404', '408', '413', '415', '503']],
      ['/v1/webhooks/{id}/deliveries', 'get', ['200', '400', '401', '404', '503']],
      ['/v1/webhooks/{id}/deliveries/{deliveryId}/retry', 'post', ['202', '400', '401', '404', '408', '413', '415', '429', '503']],
    ];
    for (const [path, method, statuses] of ops) {
      expect({ path, method, statuses: Object.keys(doc.paths[path]?.[method]?.responses ?? {}).sort() }).toEqual({ path, method, statuses: statuses.sort() });
    }
  });
});

describe('delivery', () => {
  test('a finished run is POSTed once, signed so that standardwebhooks verifies it', async () => {
    const account = await createAccount(stack);
    const hook = await register(account);
    const failedOnly = await register(account, { events: ['run.failed'] });
    const run = await finishedRun(account, { metadata: { order: 42 }, user: 'customer-7' });
    const [got] = await receiver.waitFor(hook.path, 1);
    if (!got) throw new Error('no webhook');

    const verified = new Webhook(hook.secret).verify(got.body, got.headers) as Record<string, unknown>;
    expect(verified).toEqual({
      type: 'run.succeeded',
      timestamp: run.completedAt,
      data: {
        id: run.id,
        status: 'succeeded',
        model: 'demo/echo',
        user: 'customer-7',
        sessionId: null,
        requestId: null,
        cost: run.cost,
        usage: run.usage,
        error: null,
        metadata: { order: 42 },
        userMetadata: null,
        createdAt: run.createdAt,
        startedAt: run.startedAt,
        completedAt: run.completedAt,
      },
    });
    expect(got.body).not.toContain('hello webhook world'); // no prompt, no output
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toMatch(/Runway/);
    expect(got.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    // A tampered body or another secret does not verify.
    expect(() => new Webhook(hook.secret).verify(got.body.replace('succeeded', 'failed'), got.headers)).toThrow();
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(got.body, got.headers)).toThrow();

    // The receiver sees the POST before the worker records its answer.
    const d = await waitForDelivery(account, hook.id, (x) => x.status !== 'pending');
    expect(d).toEqual({
      id: got.headers['webhook-id'],
      eventType: 'run.succeeded',
      runId: run.id,
      status: 'delivered',
      attempts: 1,
      lastStatusCode: 200,
      lastError: null,
      nextAttemptAt: null,
      createdAt: expect.any(String),
      deliveredAt: expect.any(String),
    });
    await sleep(500);
    expect(receiver.on(hook.path)).toHaveLength(1);
    expect(receiver.on(failedOnly.path)).toHaveLength(0);
    expect(await deliveries(account, failedOnly.id)).toEqual([]);
  });

  test('failed and stopped runs send run.failed and run.stopped', async () => {
    const account = await createAccount(stack);
    const hook = await register(account);
    const failed = await finishedRun(account, { model: 'openai/chat' });
    expect(failed.status).toBe('failed');
    const res = await startRun(stack, account, { prompt: Array.from({ length: 200 }, (_, i) => `w${i}`).join(' '), maxTokens: 300 });
    await waitForRun(stack, account, res.body.id, (r) => r.status === 'running');
    await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account));
    const stopped = await waitForRun(stack, account, res.body.id);
    expect(stopped.status).toBe('stopped');
    const got = await receiver.waitFor(hook.path, 2);
    const events = got.map((g) => JSON.parse(g.body) as { type: string; data: { id: string; error: unknown } });
    expect(events.find((e) => e.data.id === failed.id)).toMatchObject({ type: 'run.failed', data: { error: failed.error } });
    expect(events.find((e) => e.data.id === stopped.id)).toMatchObject({ type: 'run.stopped' });
  });

  test('a receiver failing twice then succeeding: three attempts, one webhook-id, delivered', async () => {
    const account = await createAccount(stack);
    const hook = await register(account);
    receiver.script(hook.path, [500, 503]);
    await finishedRun(account);
    const got = await receiver.waitFor(hook.path, 3);
    expect(got.map((g) => g.answered)).toEqual([500, 503, 200]);
    expect(new Set(got.map((g) => g.headers['webhook-id'])).size).toBe(1);
    for (const g of got) expect(() => new Webhook(hook.secret).verify(g.body, g.headers)).not.toThrow();
    const d = await waitForDelivery(account, hook.id, (x) => x.status === 'delivered');
    expect(d).toMatchObject({ id: got[0]?.headers['webhook-id'], attempts: 3, lastStatusCode: 200, lastError: null });
    await sleep(700);
    expect(receiver.on(hook.path)).toHaveLength(3);
  });

  test('a receiver that never succeeds: the schedule ends failed, and a manual retry sends it again with the same webhook-id', async () => {
    const account = await createAccount(stack);
    const hook = await register(account);
    receiver.script(hook.path, [], 500);
    await finishedRun(account);
    const failed = await waitForDelivery(account, hook.id, (x) => x.status === 'failed');
    expect(failed).toMatchObject({ attempts: 4, lastStatusCode: 500, lastError: 'HTTP 500', nextAttemptAt: null, deliveredAt: null });
    expect(receiver.on(hook.path)).toHaveLength(4);

    receiver.script(hook.path, [], 204);
    const retry = await stack.http.post(`/v1/webhooks/${hook.id}/deliveries/${String(failed.id)}/retry`).set(bearer(account));
    expect(retry.status).toBe(202);
    expect(retry.body).toMatchObject({ id: failed.id, status: 'pending' });
    const got = await receiver.waitFor(hook.path, 5);
    expect(got[4]?.headers['webhook-id']).toBe(failed.id);
    expect(await waitForDelivery(account, hook.id, (x) => x.status === 'delivered')).toMatchObject({ attempts: 5, lastStatusCode: 204 });
  });

  test('410 disables the endpoint: no more deliveries until it is re-enabled', async () => {
    const account = await createAccount(stack);
    const hook = await register(account);
    receiver.script(hook.path, [410]);
    await finishedRun(account);
    const d = await waitForDelivery(account, hook.id, (x) => x.status !== 'pending');
    expect(d).toMatchObject({ status: 'failed', attempts: 1, lastStatusCode: 410 });
    expect((await stack.http.get(`/v1/webhooks/${hook.id}`).set(bearer(account))).body.disabled).toBe(true);

    await finishedRun(account);
    await sleep(800);
    expect(receiver.on(hook.path)).toHaveLength(1);
    expect(await deliveries(account, hook.id)).toHaveLength(1);

    const enabled = await stack.http.patch(`/v1/webhooks/${hook.id}`).set(bearer(account)).send({ disabled: false });
    expect(enabled.body.disabled).toBe(false);
    const run = await finishedRun(account);
    const got = await receiver.waitFor(hook.path, 2);
    expect(JSON.parse(got[1]?.body ?? '{}').data.id).toBe(run.id);
  });

  test('a timeout and a redirect are failed attempts (the redirect is not followed)', async () => {
    const account = await createAccount(stack);
    const hanging = await register(account);
    const redirecting = await register(account);
    receiver.script(hanging.path, [], 'hang');
    receiver.script(redirecting.path, [], 302);
    await finishedRun(account);
    const [timedOut, redirected] = await Promise.all([
      waitForDelivery(account, hanging.id, (x) => x.status === 'failed'),
      waitForDelivery(account, redirecting.id, (x) => x.status === 'failed'),
    ]);
    expect(timedOut).toMatchObject({ attempts: 4, lastStatusCode: null, lastError: 'timed out after 1000 ms' });
    expect(redirected).toMatchObject({ attempts: 4, lastStatusCode: 302, lastError: 'HTTP 302 (redirects are not followed)' });
    expect(receiver.on('/redirected')).toHaveLength(0);
  });

  test('the secret never reaches workflow history', async () => {
    const account = await createAccount(stack);
    const hook = await register(account);
    receiver.script(hook.path, [500]);
    await finishedRun(account);
    const d = await waitForDelivery(account, hook.id, (x) => x.status === 'delivered');
    const history = await stack.temporal.workflow.getHandle(String(d.id)).fetchHistory();
    const text = JSON.stringify(history);
    expect(text).toContain('webhookDeliveryWorkflow');
    expect(text).not.toContain(hook.secret.slice(6));
    expect(text).not.toContain(Buffer.from(hook.secret.slice(6)).toString('base64'));
  });
});

describe('exactly once', () => {
  test('a retried settle and a second creation pass add no delivery', async () => {
    const account = await createAccount(stack);
    const hook = await register(account);
    const run = await finishedRun(account);
    await receiver.waitFor(hook.path, 1);
    await settleRunRecord(stack.db, { runId: run.id, status: 'failed', error: null, truncated: false });
    const again = await stack.db.transaction().execute((trx) => createRunDeliveries(trx, run.id));
    expect(again).toBe(0);
    await sleep(700);
    expect(await deliveries(account, hook.id)).toHaveLength(1);
    expect(receiver.on(hook.path)).toHaveLength(1);
  });

  test('a delivery queued while no worker runs is started by the next worker (its notification was missed)', async () => {
    const account = await createAccount(stack);
    const hook = await register(account);
    await finishedRun(account);
    const [first] = await receiver.waitFor(hook.path, 1);
    await stack.stopWorker();
    try {
      const id = first?.headers['webhook-id'] as string;
      const retry = await stack.http.post(`/v1/webhooks/${hook.id}/deliveries/${id}/retry`).set(bearer(account));
      expect(retry.status).toBe(202);
      await sleep(500);
      expect(receiver.on(hook.path)).toHaveLength(1);
    } finally {
      await stack.startWorker();
    }
    const got = await receiver.waitFor(hook.path, 2);
    expect(got[1]?.headers['webhook-id']).toBe(got[0]?.headers['webhook-id']);
    expect(await waitForDelivery(account, hook.id, (x) => x.status === 'delivered')).toMatchObject({ attempts: 2 });
  });
});

describe('manual retries', () => {
  test('a delivery may be sent again by hand twice (RUNWAY_WEBHOOK_MAX_REDELIVERIES); a third time is 429', async () => {
    const account = await createAccount(stack);
    const hook = await register(account);
    await finishedRun(account);
    const [first] = await receiver.waitFor(hook.path, 1);
    const id = first?.headers['webhook-id'] as string;
    const retry = () => stack.http.post(`/v1/webhooks/${hook.id}/deliveries/${id}/retry`).set(bearer(account));
    expect((await retry()).status).toBe(202);
    await receiver.waitFor(hook.path, 2);
    expect((await retry()).status).toBe(202);
    await receiver.waitFor(hook.path, 3);
    const over = await retry();
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ type: `${PROBLEM}too-many-redeliveries`, maxRedeliveries: 2 });
    await sleep(700);
    const got = receiver.on(hook.path);
    expect(got).toHaveLength(3);
    expect(new Set(got.map((g) => g.headers['webhook-id']))).toEqual(new Set([id]));
  });
});

describe('configuration and secrets at rest', () => {
  test('the default schedule spans about three days; a bad one stops the process with its name', () => {
    const { webhooks } = loadConfig({ PATH: process.env.PATH });
    expect(webhooks).toMatchObject({ maxEndpoints: 20, allowPrivate: false, timeoutMs: 10_000, maxRedeliveries: 10 });
    const total = webhooks.retryScheduleMs.reduce((a, b) => a + b, 0);
    expect(webhooks.retryScheduleMs[0]).toBe(5000);
    expect(total / 86_400_000).toBeGreaterThan(2.5);
    expect(total / 86_400_000).toBeLessThan(3.5);
    for (const bad of ['5x', '5s,,5m', '8d', Array(51).fill('1s').join(',')]) {
      expect(() => loadConfig({ PATH: process.env.PATH, RUNWAY_WEBHOOK_RETRY_SCHEDULE: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ PATH: process.env.PATH, RUNWAY_WEBHOOK_RETRY_SCHEDULE: bad })).toThrow(/RUNWAY_WEBHOOK_RETRY_SCHEDULE/);
    }
  });

  test('a sealed secret opens only for its own endpoint and key', async () => {
    const account = await createAccount(stack);
    const a = await register(account);
    const b = await register(account);
    const rows = await stack.db.selectFrom('webhook_endpoints').select(['id', 'secret_box']).where('id', 'in', [a.id, b.id]).execute();
    const boxOf = (id: string) => rows.find((r) => r.id === id)?.secret_box as Parameters<typeof openWebhookSecret>[2];
    expect(openWebhookSecret(stack.secretsKey, a.id, boxOf(a.id))).toBe(a.secret);
    expect(() => openWebhookSecret(stack.secretsKey, b.id, boxOf(a.id))).toThrow();
    expect(() => openWebhookSecret(Buffer.alloc(32, 7), a.id, boxOf(a.id))).toThrow();
  });
});

describe('tenants', () => {
  test("another account's endpoints and deliveries are 404 exactly like missing ones, and its runs send nothing", async () => {
    const owner = await createAccount(stack);
    const intruder = await createAccount(stack);
    const hook = await register(owner);
    await finishedRun(owner);
    const [d] = await receiver.waitFor(hook.path, 1);
    const deliveryId = d?.headers['webhook-id'] as string;
    await finishedRun(intruder);

    const calls: [string, string, Record<string, unknown>?][] = [
      ['get', '/v1/webhooks/ID'],
      ['patch', '/v1/webhooks/ID', { disabled: true }],
      ['post', '/v1/webhooks/ID/rotate-secret'],
      ['get', '/v1/webhooks/ID/deliveries'],
      ['post', `/v1/webhooks/ID/deliveries/${deliveryId}/retry`],
      ['delete', '/v1/webhooks/ID'],
    ];
    for (const [method, path, body] of calls) {
      const send = (id: string) => {
        const req = (stack.http as unknown as Record<string, (p: string) => import('supertest').Test>)[method]?.(path.replace('ID', id));
        if (!req) throw new Error(method);
        return req.set(bearer(intruder)).send(body ?? {});
      };
      const foreign = await send(hook.id);
      const unknown = await send('wh_doesnotexist');
      expect({ method, path, status: foreign.status }).toEqual({ method, path, status: 404 });
      expect(foreign.body).toEqual(unknown.body);
    }
    // The owner's retry of a delivery id under another webhook id is a 404 too.
    const other = await register(owner);
    expect((await stack.http.post(`/v1/webhooks/${other.id}/deliveries/${deliveryId}/retry`).set(bearer(owner))).status).toBe(404);
    // Nothing changed for the owner.
    const view = await stack.http.get(`/v1/webhooks/${hook.id}`).set(bearer(owner));
    expect(view.body.disabled).toBe(false);
    expect(await deliveries(owner, hook.id)).toHaveLength(1);
    expect((await stack.http.get('/v1/webhooks').set(bearer(intruder))).body.data).toEqual([]);
    await sleep(500);
    expect(receiver.on(hook.path)).toHaveLength(1);
  });
});
