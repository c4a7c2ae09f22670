import { setTimeout as sleep } from 'node:timers/promises';
import { createAccount, type TestAccount } from '../helpers/api';
import { words } from '../helpers/sse';
import { startStack, type TestStack } from '../helpers/stack';
import { TcpProxy } from '../helpers/tcp-proxy';
import { checkInvariants, waitUntilIdle } from './invariants';
import { report, size } from './mode';

/**
 * Scenario 2, a PostgreSQL outage mid-load (issue #19): every connection of the API and the
 * worker is cut and new ones refused for a while. Meanwhile the API answers 503
 * database-unavailable (problem+json, fast) and /readyz 503; afterwards everything recovers
 * without a restart and nothing is charged twice.
 */
const OUTAGE_MS = size(12_000, 30_000);
const RUNS_BEFORE = size(12, 80);
const RUNS_AFTER = size(6, 40);

const proxy = new TcpProxy((() => {
  const url = new URL(process.env.DATABASE_URL as string);
  return { host: url.hostname, port: Number(url.port || 5432) };
})());
let stack: TestStack;
let account: TestAccount;

beforeAll(async () => {
  await proxy.start();
  const url = new URL(process.env.DATABASE_URL as string);
  url.host = `127.0.0.1:${proxy.port}`;
  stack = await startStack({ env: { DATABASE_URL: url.toString(), RUNWAY_DEMO_DELAY_MS: '30' } });
  account = await createAccount(stack, 1_000_000, { maxActiveRuns: 500 });
});
afterAll(async () => {
  await stack.stop();
  await proxy.cut().catch(() => undefined);
});

const post = (body: Record<string, unknown>, key: string) =>
  fetch(`${stack.baseUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${account.apiKey}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });

test('the API answers 503 during the outage, and every run finishes, charged once, after it', async () => {
  const ids: string[] = [];
  for (let i = 0; i < RUNS_BEFORE; i++) {
    const res = await post({ prompt: words(60, `o${i}-`), model: 'demo/echo', maxTokens: 80 }, `outage-before-${i}`);
    expect(res.status).toBe(202);
    ids.push(((await res.json()) as { id: string }).id);
  }
  await sleep(800); // mid-stream

  await proxy.cut();
  const cutAt = Date.now();
  const answers: { status: number; type: string; ms: number }[] = [];
  const readyz: number[] = [];
  let i = 0;
  while (Date.now() - cutAt < OUTAGE_MS) {
    const started = Date.now();
    const res = await post({ prompt: `during ${i}`, model: 'demo/echo', maxTokens: 8 }, `outage-during-${i++}`);
    const body = (await res.json()) as { type?: string };
    answers.push({ status: res.status, type: body.type ?? '', ms: Date.now() - started });
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    readyz.push((await fetch(`${stack.baseUrl}/readyz`)).status);
    await sleep(500);
  }
  await proxy.restore();
  const downMs = Date.now() - cutAt;

  expect(answers.length).toBeGreaterThan(3);
  expect(new Set(answers.map((a) => a.status))).toEqual(new Set([503]));
  expect(new Set(answers.map((a) => a.type.split('/').pop()))).toEqual(new Set(['database-unavailable']));
  expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(7_000); // refused, never held
  expect(new Set(readyz)).toEqual(new Set([503]));

  // Back: new runs are admitted (retrying until the pool has reconnected), old ones finish.
  for (let j = 0; j < RUNS_AFTER; j++) {
    let res = await post({ prompt: words(10, `a${j}-`), model: 'demo/echo', maxTokens: 16 }, `outage-after-${j}`);
    for (let tries = 0; res.status === 503 && tries < 20; tries++) {
      await sleep(500);
      res = await post({ prompt: words(10, `a${j}-`), model: 'demo/echo', maxTokens: 16 }, `outage-after-${j}`);
    }
    expect(res.status).toBe(202);
    ids.push(((await res.json()) as { id: string }).id);
  }
  await waitUntilIdle(stack.db, [account.id], size(120_000, 300_000));
  expect((await fetch(`${stack.baseUrl}/readyz`)).status).toBe(200);

  const rows = await stack.db.selectFrom('runs').select(['id', 'status']).where('account_id', '=', account.id).execute();
  expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort()); // no run admitted by a refused request
  expect(rows.filter((r) => r.status !== 'succeeded')).toEqual([]);
  const invariants = await checkInvariants(stack, [account.id]);
  expect(invariants.violations).toEqual([]);
  report('outage', {
    outageSeconds: Math.round(downMs / 1000),
    refusedDuringOutage: answers.length,
    slowestRefusalMs: Math.max(...answers.map((a) => a.ms)),
    runs: rows.length,
    events: invariants.events,
  });
}, size(240_000, 900_000));
