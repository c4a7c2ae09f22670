import { bearer, createAccount, type TestAccount } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';

let stack: TestStack;
let account: TestAccount;
let admin: Record<string, string>;
beforeAll(async () => {
  stack = await startStack();
  account = await createAccount(stack, 1000);
  admin = { authorization: `Bearer ${stack.adminToken}` };
});
afterAll(async () => {
  await stack?.stop();
});

const PROBLEM = 'https://runway.dev/problems/';

function expectProblem(res: { status: number; headers: Record<string, string>; body: { type?: string } }, status: number, type: string) {
  expect({ status: res.status, type: res.body.type }).toEqual({ status, type: PROBLEM + type });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
}

/** Every JSON-taking endpoint built so far, with the credentials it needs. */
const endpoints = () => [
  { path: '/v1/runs', headers: bearer(account) },
  { path: '/v1/sessions', headers: bearer(account) },
  { path: '/v1/admin/accounts', headers: admin },
  { path: `/v1/admin/accounts/${account.id}/credits`, headers: admin },
];

test('malformed JSON is a 400 malformed-json on every endpoint', async () => {
  for (const { path, headers } of endpoints()) {
    const res = await stack.http.post(path).set(headers).set('content-type', 'application/json').send('{"prompt": "x",');
    expectProblem(res, 400, 'malformed-json');
  }
});

test('a body that is not JSON is a 415', async () => {
  for (const { path, headers } of endpoints()) {
    const res = await stack.http.post(path).set(headers).set('content-type', 'text/plain').send('prompt=hello');
    expectProblem(res, 415, 'unsupported-media-type');
    const form = await stack.http.post(path).set(headers).type('form').send({ prompt: 'hello' });
    expectProblem(form, 415, 'unsupported-media-type');
  }
});

test('a body over 1 MB is a 413, declared or streamed', async () => {
  const big = JSON.stringify({ prompt: 'x'.repeat(1024 * 1024 + 10) });
  for (const { path, headers } of endpoints()) {
    const res = await stack.http.post(path).set(headers).set('content-type', 'application/json').send(big);
    expectProblem(res, 413, 'payload-too-large');
  }
  // Without a Content-Length (chunked), the parser stops at the limit.
  const chunked = await fetch(`${stack.baseUrl}/v1/runs`, {
    method: 'POST',
    headers: { ...bearer(account), 'content-type': 'application/json' },
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  expect(chunked.status).toBe(413);
});

test('wrong types and missing fields are a 400 listing each field', async () => {
  const cases: [string, Record<string, string>, unknown, string[]][] = [
    ['/v1/runs', bearer(account), { prompt: 42, maxTokens: 'many' }, ['prompt', 'maxTokens']],
    ['/v1/runs', bearer(account), { model: 'demo/echo' }, ['prompt']],
    ['/v1/runs', bearer(account), { prompt: 'x', maxTokens: 0 }, ['maxTokens']],
    ['/v1/runs', bearer(account), { prompt: 'x', maxTokens: 1.5 }, ['maxTokens']],
    ['/v1/runs', bearer(account), { prompt: 'x', extra: true }, ['']],
    ['/v1/runs', bearer(account), { prompt: 'x', model: 'no-slash' }, ['model']],
    ['/v1/runs', bearer(account), { prompt: 'x', workspace: { repo: 5 } }, ['workspace.repo']],
    ['/v1/runs', bearer(account), [1, 2], ['']],
    ['/v1/admin/accounts', admin, { name: '', credits: -5 }, ['name', 'credits']],
    ['/v1/admin/accounts', admin, { name: 'x', credits: 1.25 }, ['credits']],
    [`/v1/admin/accounts/${account.id}/credits`, admin, { amount: '10' }, ['amount']],
    [`/v1/admin/accounts/${account.id}/credits`, admin, { amount: 0 }, ['amount']],
  ];
  for (const [path, headers, body, fields] of cases) {
    const res = await stack.http.post(path).set(headers).send(body as object);
    expectProblem(res, 400, 'validation-error');
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(fields.sort());
  }
});

test('an unknown model is a 400 unknown-model', async () => {
  const res = await stack.http.post('/v1/runs').set(bearer(account)).send({ prompt: 'x', model: 'madeup/model-9' });
  expectProblem(res, 400, 'unknown-model');
});

test('bad query parameters and ids are 4xx, never 500', async () => {
  for (const q of ['limit=0', 'limit=101', 'limit=abc', 'status=exploded', 'cursor=%00%01']) {
    const res = await stack.http.get(`/v1/runs?${q}`).set(bearer(account));
    expect(res.status).toBe(400);
  }
  expectProblem(await stack.http.get('/v1/account/ledger?limit=-1').set(bearer(account)), 400, 'validation-error');
  expectProblem(await stack.http.get(`/v1/runs/${'x'.repeat(5000)}`).set(bearer(account)), 404, 'not-found');
  expectProblem(await stack.http.get('/v1/runs/..%2F..%2Fetc%2Fpasswd').set(bearer(account)), 404, 'not-found');
  expectProblem(await stack.http.post('/v1/admin/accounts/acct_missing/credits').set(admin).send({ amount: 1 }), 404, 'not-found');
  expectProblem(await stack.http.get('/v1/nothing-here').set(bearer(account)), 404, 'not-found');
  const method = await stack.http.put('/v1/runs').set(bearer(account)).send({});
  expect(method.status).toBe(405);
  // A method the router knows nowhere is a 405 problem too, not a 500.
  for (const path of ['/v1/runs', '/v1/account', '/v1/tokens']) {
    expectProblem(await stack.http.trace(path).set(bearer(account)), 405, 'method-not-allowed');
  }
  const key = await stack.http.post('/v1/runs').set(bearer(account)).set('idempotency-key', 'x'.repeat(300)).send({ prompt: 'x' });
  expectProblem(key, 400, 'invalid-idempotency-key');
});

test('the OpenAPI document describes every endpoint from the validating schemas', async () => {
  const res = await stack.http.get('/openapi.json');
  expect(res.status).toBe(200);
  expect(res.body.openapi).toBe('3.1.0');
  expect(Object.keys(res.body.paths).sort()).toEqual(
    [
      '/v1/account',
      '/v1/account/ledger',
      '/v1/admin/accounts',
      '/v1/admin/accounts/{id}/credits',
      '/v1/admin/workspace-leftovers',
      '/v1/runs',
      '/v1/runs/{id}',
      '/v1/runs/{id}/events',
      '/v1/runs/{id}/retry',
      '/v1/runs/{id}/steps',
      '/v1/runs/{id}/stop',
      '/v1/sessions',
      '/v1/sessions/{id}',
      '/v1/sessions/{id}/events',
      '/v1/sessions/{id}/requests',
      '/v1/sessions/{id}/requests/{requestId}',
      '/v1/sessions/{id}/requests/{requestId}/events',
      '/v1/sessions/{id}/requests/{requestId}/stop',
      '/v1/webhooks',
      '/v1/webhooks/{id}',
      '/v1/webhooks/{id}/deliveries',
      '/v1/webhooks/{id}/deliveries/{deliveryId}/retry',
      '/v1/webhooks/{id}/rotate-secret',
      '/v1/tokens',
      '/v1/tokens/revoke-all',
    ].sort(),
  );
  const createRun = res.body.components.schemas.CreateRun;
  expect(createRun.required).toEqual(['prompt']);
  expect(createRun.properties.maxTokens).toMatchObject({ type: 'integer', minimum: 1, maximum: 200000 });
});
