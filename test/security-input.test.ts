import { bearer, createAccount, type TestAccount } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';

/** Hostile text at the edge: refused as a 400 before anything is stored or started. */
let stack: TestStack;
let account: TestAccount;
beforeAll(async () => {
  stack = await startStack();
  account = await createAccount(stack, 1000);
});
afterAll(async () => {
  await stack?.stop();
});

const VALIDATION = 'https://runway.dev/problems/validation-error';

/** JSON.stringify writes a lone surrogate as the escape `\ud800`, which JSON.parse turns back into one. */
const post = (path: string, body: unknown, headers = bearer(account)) =>
  stack.http.post(path).set(headers).set('content-type', 'application/json').send(JSON.stringify(body));

function expectRefused(res: { status: number; body: { type?: string; errors?: { path: string }[] }; headers: Record<string, string> }, path: string) {
  expect({ status: res.status, type: res.body.type, path: res.body.errors?.[0]?.path }).toEqual({ status: 400, type: VALIDATION, path });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
}

let nested: unknown = 'leaf';
for (let i = 0; i < 100; i++) nested = { n: nested };

const hostileRuns: [string, Record<string, unknown>, string][] = [
  ['a NUL in the prompt', { prompt: 'before\u0000after' }, 'prompt'],
  ['a lone surrogate in the prompt', { prompt: 'broken \ud800 text' }, 'prompt'],
  ['a NUL in a metadata value', { prompt: 'ok', metadata: { note: 'x\u0000' } }, 'metadata.note'],
  ['a NUL in a metadata key', { prompt: 'ok', metadata: { 'k\u0000': 1 } }, 'metadata.k\u0000'],
  ['a lone surrogate deep in metadata', { prompt: 'ok', metadata: { a: [{ b: '\udc00' }] } }, 'metadata.a.0.b'],
  ['metadata nested 100 levels deep', { prompt: 'ok', metadata: nested as Record<string, unknown> }, expect.stringMatching(/^metadata(\.n)+$/) as unknown as string],
];

test.each(hostileRuns)('%s is a 400 validation-error, and no run or workflow exists for it', async (_what, body, path) => {
  const res = await post('/v1/runs', body);
  expectRefused(res, path);
  const rows = await stack.db.selectFrom('runs').select('id').where('account_id', '=', account.id).execute();
  expect(rows).toEqual([]);
  const workflows = stack.temporal.workflow.list({ query: `RunwayAccount = "${account.id}"` });
  for await (const wf of workflows) throw new Error(`a workflow was started: ${wf.workflowId}`);
});

test('sessions, session requests and admin calls refuse the same text', async () => {
  expectRefused(await post('/v1/sessions', { metadata: { x: '\u0000' } }), 'metadata.x');
  const session = await post('/v1/sessions', {});
  expect(session.status).toBe(201);
  expectRefused(await post(`/v1/sessions/${session.body.id}/requests`, { prompt: 'a\u0000' }), 'prompt');
  expectRefused(await post(`/v1/sessions/${session.body.id}/requests`, { prompt: '\ud83d' }), 'prompt');
  const admin = { authorization: `Bearer ${stack.adminToken}` };
  expectRefused(await post('/v1/admin/accounts', { name: 'evil\u0000name' }, admin), 'name');
});

test('NUL bytes and broken encodings in the path or query are a 400, never a 500', async () => {
  const headers = bearer(account);
  expectRefused(await stack.http.get('/v1/runs?status=%00').set(headers), 'query.status');
  expectRefused(await stack.http.get('/v1/runs?cursor=abc%00def').set(headers), 'query.cursor');
  expectRefused(await stack.http.get('/v1/runs/run_%00x').set(headers), 'path');
  expectRefused(await stack.http.get('/v1/sessions/%ED%A0%80').set(headers), 'path');
  expectRefused(await stack.http.post('/v1/runs/run_%00/stop').set(headers), 'path');
});
