import { buildOpenApiDocument } from '../../src/api/openapi';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from '../helpers/api';
import { startStack, type TestStack } from '../helpers/stack';
import { WebhookReceiver } from '../helpers/webhook-receiver';
import { report } from './mode';

/**
 * Scenario 6, isolation (issue #19): another account, and scoped tokens, try every documented
 * operation on the first account's runs, sessions, requests, events, ledger, webhooks,
 * deliveries and tokens. Always 401, 403 or 404 — never a byte of the first account's data.
 */
let stack: TestStack;
const receiver = new WebhookReceiver();
let owner: TestAccount;
let intruder: TestAccount;
const MARKER = `isolation-marker-${Math.random().toString(36).slice(2)}`;
const ids: Record<string, string> = {};

beforeAll(async () => {
  await receiver.start();
  stack = await startStack({ env: { RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true' } });
  owner = await createAccount(stack, 10_000);
  intruder = await createAccount(stack, 10_000);
  const hook = await stack.http.post('/v1/webhooks').set(bearer(owner)).send({ url: `${receiver.url}/iso`, description: MARKER });
  ids.webhook = hook.body.id;
  const run = await startRun(stack, owner, { prompt: `${MARKER} bob's run`, model: 'demo/echo', maxTokens: 16, user: 'bob', metadata: { marker: MARKER } });
  ids.run = run.body.id;
  await waitForRun(stack, owner, ids.run!);
  const session = await stack.http.post('/v1/sessions').set(bearer(owner)).send({ model: 'demo/echo', maxTokens: 16, user: 'bob', metadata: { marker: MARKER } });
  ids.session = session.body.id;
  const request = await stack.http.post(`/v1/sessions/${ids.session}/requests`).set(bearer(owner)).send({ prompt: `${MARKER} turn` });
  ids.requestId = request.body.requestId;
  for (let i = 0; i < 100 && !ids.delivery; i++) {
    const deliveries = await stack.http.get(`/v1/webhooks/${ids.webhook}/deliveries`).set(bearer(owner));
    ids.delivery = deliveries.body.data[0]?.id;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(Object.values(ids).every(Boolean)).toBe(true);
});
afterAll(async () => {
  await stack.stop();
  await receiver.stop();
});

const operations = Object.entries(buildOpenApiDocument().paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
  Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })),
);

/** The owner's resource for each path parameter. */
function fill(path: string): string {
  return path
    .replace('/v1/runs/{id}', `/v1/runs/${ids.run}`)
    .replace('/v1/sessions/{id}', `/v1/sessions/${ids.session}`)
    .replace('{requestId}', ids.requestId!)
    .replace('/v1/webhooks/{id}', `/v1/webhooks/${ids.webhook}`)
    .replace('{deliveryId}', ids.delivery!)
    .replace('/v1/admin/accounts/{id}', `/v1/admin/accounts/${owner.id}`);
}

const BODIES: Record<string, unknown> = {
  '/v1/runs': { prompt: 'x', model: 'demo/echo', maxTokens: 4, sessionId: undefined },
  '/v1/sessions/{id}/requests': { prompt: 'hijack' },
  '/v1/webhooks/{id}': { description: 'hijacked' },
  '/v1/tokens': { scope: { runs: ['run_x'] }, permissions: ['read'] },
  '/v1/admin/accounts': { name: 'x', credits: 1 },
  '/v1/admin/accounts/{id}/credits': { amount: 1 },
};

async function attempt(credential: string, op: { method: string; path: string }) {
  const res = await fetch(`${stack.baseUrl}${fill(op.path)}`, {
    method: op.method,
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: op.method === 'GET' || op.method === 'DELETE' ? undefined : JSON.stringify(BODIES[op.path] ?? {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = res.headers.get('content-type')?.startsWith('text/event-stream') ? (await res.body?.cancel(), '') : await res.text();
  return { status: res.status, text };
}

const leaks = (text: string) => [MARKER, ids.run!, ids.session!, ids.requestId!, ids.webhook!, ids.delivery!, owner.id].filter((v) => text.includes(v));

test('another account gets 401, 403 or 404 on every operation touching the first one, and no data', async () => {
  const outcomes: Record<string, number> = {};
  const problems: string[] = [];
  for (const op of operations) {
    const targeted = op.path.includes('{');
    const { status, text } = await attempt(intruder.apiKey, op);
    outcomes[status] = (outcomes[status] ?? 0) + 1;
    const leaked = leaks(text);
    if (leaked.length) problems.push(`${op.method} ${op.path} (${status}) shows ${leaked.join(', ')}`);
    if (targeted && ![401, 403, 404].includes(status)) problems.push(`${op.method} ${op.path} answered ${status}`);
  }
  // The owner's own reads still work: the ids used above are real.
  expect((await stack.http.get(`/v1/runs/${ids.run}`).set(bearer(owner))).status).toBe(200);
  expect(problems).toEqual([]);
  report('isolation', { operations: operations.length, outcomes });
});

test("an end user's token reaches only that user's resources; a run's token only that run", async () => {
  const alice = await stack.http.post('/v1/tokens').set(bearer(owner)).send({ scope: { user: 'alice' }, permissions: ['read', 'stop', 'create'] });
  expect(alice.status).toBe(201);
  const other = await startRun(stack, owner, { prompt: 'another run', model: 'demo/echo', maxTokens: 4 });
  const runToken = other.body.publicAccessToken as string;
  const problems: string[] = [];
  for (const [name, token] of [['alice', alice.body.token as string], ['run token', runToken]] as const) {
    for (const op of operations) {
      if (!op.path.includes('{')) continue;
      const { status, text } = await attempt(token, op);
      if (![401, 403, 404].includes(status)) problems.push(`${name}: ${op.method} ${op.path} answered ${status}`);
      const leaked = leaks(text);
      if (leaked.length) problems.push(`${name}: ${op.method} ${op.path} shows ${leaked.join(', ')}`);
    }
    // Streams by ?access_token= are refused the same way.
    const stream = await fetch(`${stack.baseUrl}/v1/runs/${ids.run}/events?access_token=${encodeURIComponent(token)}`);
    if (stream.status !== 404) problems.push(`${name}: the owner's run stream answered ${stream.status}`);
    await stream.body?.cancel();
  }
  expect(problems).toEqual([]);
});
