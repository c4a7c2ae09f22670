import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAccount, type TestAccount } from '../helpers/api';
import { spawnApi, spawnWorker, stackEnv, type PlatformProcess } from '../helpers/processes';
import { SseConnection, words } from '../helpers/sse';
import { startStack, type TestStack } from '../helpers/stack';
import { checkInvariants, waitUntilIdle } from './invariants';
import { report, size } from './mode';

/**
 * Scenario 4, load (issue #19): many concurrently active runs, each followed by several SSE
 * subscribers spread over two API processes and one worker process. No errors; the figures
 * (RSS of each process, event latency from the event's commit to a subscriber, completed runs a
 * second) are reported.
 */
const RUNS = size(40, 500);
const SUBSCRIBERS_PER_RUN = 2;
const TOKENS = size(40, 60);

let stack: TestStack;
let account: TestAccount;
const apis: (PlatformProcess & { baseUrl: string })[] = [];
let worker: PlatformProcess;

const limits = { RUNWAY_MAX_STREAMS_PER_ACCOUNT: '5000', RUNWAY_DEMO_DELAY_MS: '50', RUNWAY_LOG_LEVEL: 'warn' };

beforeAll(async () => {
  stack = await startStack({ worker: false, env: limits });
  account = await createAccount(stack, 100_000_000, { maxActiveRuns: 5000 });
  const env = { ...stackEnv(stack), ...limits };
  for (let i = 0; i < 2; i++) apis.push(await spawnApi(env));
  worker = await spawnWorker({ ...env, RUNWAY_LOG_LEVEL: 'info' }); // it says "worker running" at info
}, 120_000);
afterAll(async () => {
  for (const p of [...apis, worker]) await p?.kill('SIGKILL');
  await stack.stop();
});

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] ?? 0;

test(`${RUNS} active runs with ${RUNS * SUBSCRIBERS_PER_RUN} subscribers over two APIs: no errors, figures reported`, async () => {
  const auth = { authorization: `Bearer ${account.apiKey}`, 'content-type': 'application/json' };
  const started = Date.now();
  const ids = await Promise.all(
    Array.from({ length: RUNS }, async (_, i) => {
      const res = await fetch(`${apis[i % 2]!.baseUrl}/v1/runs`, { method: 'POST', headers: auth, body: JSON.stringify({ prompt: words(TOKENS, `l${i}-`), model: 'demo/echo', maxTokens: TOKENS + 10 }) });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    }),
  );
  const arrivals = new Map<string, number>(); // `${run}:${id}` → first arrival (ms)
  const subscribers = await Promise.all(
    ids.flatMap((id, i) =>
      Array.from({ length: SUBSCRIBERS_PER_RUN }, async (_, j) => {
        const conn = await SseConnection.open(`${apis[(i + j) % 2]!.baseUrl}/v1/runs/${id}/events`, { authorization: auth.authorization });
        expect(conn.status).toBe(200);
        const seen = new Set<number>();
        const watch = setInterval(() => {
          for (const m of conn.messages) if (m.id !== null && !seen.has(m.id)) {
            seen.add(m.id);
            const key = `${id}:${m.id}`;
            if (!arrivals.has(key)) arrivals.set(key, Date.now());
          }
        }, 5);
        return { conn, watch, id };
      }),
    ),
  );
  let peak = { api: 0, worker: 0 };
  const sampler = setInterval(() => {
    peak = { api: Math.max(peak.api, ...apis.map((a) => rssMb(a.child.pid!))), worker: Math.max(peak.worker, rssMb(worker.child.pid!)) };
  }, 200);
  await Promise.all(subscribers.map((s) => s.conn.finished(size(120_000, 600_000))));
  await sleep(20);
  for (const s of subscribers) clearInterval(s.watch);
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;

  for (const s of subscribers) expect(s.conn.messages.at(-1)?.type).toBe('end');
  await waitUntilIdle(stack.db, [account.id], 60_000);
  const rows = await stack.db.selectFrom('runs').select(['status']).where('account_id', '=', account.id).execute();
  expect(rows.filter((r) => r.status !== 'succeeded')).toEqual([]);

  // Latency: the event row's commit time to its first arrival at a subscriber (same clock).
  const events = await stack.db.selectFrom('run_events').select(['run_id', 'id', 'created_at']).where('run_id', 'in', ids).where('type', '=', 'delta').execute();
  const latencies = events.flatMap((e) => {
    const at = arrivals.get(`${e.run_id}:${e.id}`);
    return at === undefined ? [] : [at - e.created_at.getTime()];
  });
  const invariants = await checkInvariants(stack, [account.id]);
  expect(invariants.violations).toEqual([]);
  report('load', {
    runs: RUNS,
    subscribers: subscribers.length,
    seconds: Math.round(seconds * 10) / 10,
    completedRunsPerSecond: Math.round((RUNS / seconds) * 10) / 10,
    eventLatencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), samples: latencies.length },
    peakRssMb: { api: Math.round(peak.api), worker: Math.round(peak.worker) },
  });
}, size(240_000, 1_800_000));
