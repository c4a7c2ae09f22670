import fc from 'fast-check';
import { buildOpenApiDocument } from '../../src/api/openapi';
import { PROBLEM_BASE } from '../../src/api/problem';
import { createAccount, startRun, waitForRun, type TestAccount } from '../helpers/api';
import { startStack, type TestStack } from '../helpers/stack';
import { report, size } from './mode';

/**
 * Scenario 5, fuzz (issue #19): property-based requests over every documented operation — ids,
 * cursors, query strings, Last-Event-ID, Idempotency-Key, content types, bodies (valid ones,
 * mutated), huge and deep JSON, NUL bytes and lone surrogates. Zero 5xx; every error is
 * problem+json with a stable type; the server is healthy after. (schemathesis against
 * /openapi.json runs in test/openapi-conformance.test.ts, in every mode.)
 */
const CASES = size(400, 4000);

let stack: TestStack;
let account: TestAccount;
let runId: string;
const seenTypes = new Map<string, number>();

beforeAll(async () => {
  stack = await startStack();
  account = await createAccount(stack, 100_000);
  runId = (await startRun(stack, account, { prompt: 'fuzz target', model: 'demo/echo', maxTokens: 8 })).body.id;
  await waitForRun(stack, account, runId);
});
afterAll(async () => {
  await stack.stop();
});

const operations = Object.entries(buildOpenApiDocument().paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
  Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })),
);

const nasty = fc.constantFrom('%ED%A0%80', '%FF%FE', '%C0%AF', '\u0000', '\ud800', '\udfff', '../../etc/passwd', '%00', '-rf', '${jndi:x}', ' ', '😀'.slice(0, 1), 'a'.repeat(5000));
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), nasty);
const id = fc.oneof(fc.constant(() => runId), fc.constant(() => 'run_00000000000000000000000000'), text.map((t) => () => t));

/** Valid-looking bodies for the operations that take one, to be mutated. */
const validBody = fc.constantFrom<Record<string, unknown>>(
  { prompt: 'hello', model: 'demo/echo', maxTokens: 8 },
  { model: 'demo/echo', maxTokens: 8 },
  { prompt: 'again' },
  { url: 'https://example.com/hook', events: ['run.succeeded'] },
  { scope: { runs: ['run_x'] }, permissions: ['read'] },
  { name: 'acct', credits: 5 },
  { amount: 3 },
);

const deep = (depth: number): unknown => (depth === 0 ? 1 : { a: deep(depth - 1) });
const mutatedBody = fc.oneof(
  validBody,
  fc.tuple(validBody, fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 })).map(([b, k, v]) => ({ ...b, [k]: v })),
  fc.tuple(validBody, text).map(([b, t]) => Object.fromEntries(Object.keys(b).map((k) => [k, t]))),
  fc.jsonValue({ maxDepth: 4 }),
  fc.integer({ min: 30, max: 200 }).map((d) => deep(d)),
  fc.constant('x'.repeat(2 * 1024 * 1024)),
);

const request = fc.record({
  op: fc.constantFrom(...operations),
  ids: fc.array(id, { minLength: 2, maxLength: 2 }),
  query: fc.dictionary(fc.constantFrom('limit', 'cursor', 'status', 'user', 'after', 'access_token', 'x'), text, { maxKeys: 3 }),
  lastEventId: fc.option(fc.oneof(text, fc.nat().map(String), fc.constant('-1'), fc.constant('99999999999999999999'))),
  idempotencyKey: fc.option(text),
  contentType: fc.oneof({ arbitrary: fc.constant('application/json'), weight: 6 }, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', '')),
  body: fc.option(mutatedBody),
  // Mostly a valid key, so that requests get past authentication to the routes' own checks.
  auth: fc.oneof({ arbitrary: fc.constant('account'), weight: 6 }, { arbitrary: fc.constant('admin'), weight: 2 }, fc.constantFrom('none', 'garbage')),
});

/** A path segment, percent-encoded byte by byte; a raw `%…` value goes as it is (invalid UTF-8 included). */
function segment(value: string): string {
  if (/^(%[0-9A-F]{2})+$/.test(value)) return value;
  return [...Buffer.from(value, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

function urlOf(path: string, ids: (() => string)[], query: Record<string, string>): string {
  let i = 0;
  const filled = path.replace(/\{[^}]+\}/g, () => segment(ids[i++ % ids.length]!()));
  const qs = new URLSearchParams(query).toString();
  return `${stack.baseUrl}${filled}${qs ? `?${qs}` : ''}`;
}

test(`${CASES} generated requests: no 5xx, every error problem+json with a stable type`, async () => {
  const failures: string[] = [];
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const headers: Record<string, string> = {};
      if (r.auth === 'account') headers.authorization = `Bearer ${account.apiKey}`;
      if (r.auth === 'admin') headers.authorization = `Bearer ${stack.adminToken}`;
      if (r.auth === 'garbage') headers.authorization = 'Bearer \u0001nope';
      if (r.contentType) headers['content-type'] = r.contentType;
      if (r.lastEventId !== null) headers['last-event-id'] = r.lastEventId;
      if (r.idempotencyKey !== null) headers['idempotency-key'] = r.idempotencyKey;
      const safe = Object.fromEntries(Object.entries(headers).filter(([, v]) => /^[\t\x20-\x7e\x80-\xff]*$/.test(v)));
      const hasBody = r.body !== null && r.op.method !== 'GET';
      const res = await fetch(urlOf(r.op.path, r.ids, r.query), {
        method: r.op.method,
        headers: safe,
        body: hasBody ? (typeof r.body === 'string' ? r.body : JSON.stringify(r.body)) : undefined,
        signal: AbortSignal.timeout(15_000),
      });
      const type = res.headers.get('content-type') ?? '';
      if (type.startsWith('text/event-stream')) {
        await res.body?.cancel();
        return;
      }
      const raw = await res.text();
      if (res.status >= 500) failures.push(`${r.op.method} ${r.op.path} → ${res.status} ${raw.slice(0, 200)}`);
      if (res.status >= 400) {
        if (!type.startsWith('application/problem+json')) failures.push(`${r.op.method} ${r.op.path} → ${res.status} as ${type}`);
        let problem: { type?: string; status?: number } = {};
        try {
          problem = JSON.parse(raw) as typeof problem;
        } catch {
          failures.push(`${r.op.method} ${r.op.path} → ${res.status} with a body that is not JSON: ${raw.slice(0, 100)}`);
        }
        if (!problem.type?.startsWith(PROBLEM_BASE) || !/^[a-z-]+$/.test(problem.type.slice(PROBLEM_BASE.length)) || problem.status !== res.status) {
          failures.push(`${r.op.method} ${r.op.path} → unstable problem ${raw.slice(0, 200)}`);
        }
        seenTypes.set(problem.type ?? '', (seenTypes.get(problem.type ?? '') ?? 0) + 1);
      }
      return failures.length === 0;
    }),
    { numRuns: CASES, endOnFailure: true },
  );
  expect(failures).toEqual([]);

  // Healthy after: health, and a run from start to end.
  expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
  const after = await startRun(stack, account, { prompt: 'still fine', model: 'demo/echo', maxTokens: 8 });
  expect(after.status).toBe(202);
  expect((await waitForRun(stack, account, after.body.id)).status).toBe('succeeded');
  report('fuzz', { cases: CASES, problemTypes: Object.fromEntries([...seenTypes].map(([t, n]) => [t.slice(PROBLEM_BASE.length), n])) });
}, size(240_000, 1_800_000));

test('a request line or headers over Node\'s limit are refused as problem+json (431), not a bare status line', async () => {
  const res = await fetch(`${stack.baseUrl}/v1/runs?cursor=${'a'.repeat(20_000)}`, { headers: { authorization: `Bearer ${account.apiKey}` } });
  expect(res.status).toBe(431);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEM_BASE}request-header-fields-too-large`);
  expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
});
