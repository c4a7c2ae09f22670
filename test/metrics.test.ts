import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, createAccount, startRun, waitForRun } from './helpers/api';
import { spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { SseConnection, words } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';
import { WebhookReceiver } from './helpers/webhook-receiver';
import { freePort } from '../src/temporal/dev-server';

/**
 * Prometheus metrics (issue #20): the API's GET /metrics and the worker's own port move with what
 * users do, agree with the ledger, never name a run, and honour RUNWAY_METRICS_TOKEN.
 */
const METRICS_TOKEN = 'metrics-token-0123456789';
let stack: TestStack;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = new WebhookReceiver();
  await receiver.start();
  stack = await startStack({ env: { RUNWAY_METRICS_TOKEN: METRICS_TOKEN, RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true', RUNWAY_DEMO_DELAY_MS: '20' } });
});
afterAll(async () => {
  await stack.stop();
  await receiver.stop();
});

type Samples = Map<string, number>;

/** `name{labels} value` lines into a map keyed by `name{labels}` (labels as Prometheus prints them). */
function parse(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    const match = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/i.exec(line);
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

async function scrape(url = `${stack.baseUrl}/metrics`): Promise<{ samples: Samples; text: string }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { samples: parse(text), text };
}

const delta = (before: Samples, after: Samples, key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);

test('admissions, refusals, settlements, credits, streams, first tokens and webhooks are counted', async () => {
  const account = await createAccount(stack, 2_000);
  const hook = await stack.http.post('/v1/webhooks').set(bearer(account)).send({ url: `${receiver.url}/metrics-hook` });
  expect(hook.status).toBe(201);
  const before = (await scrape()).samples;

  const done = await startRun(stack, account, { prompt: words(10, 'ok'), model: 'demo/echo', maxTokens: 20 });
  const stream = await SseConnection.open(`${stack.baseUrl}/v1/runs/${done.body.id}/events`, bearer(account));
  await stream.waitFor((m) => m.some((e) => e.type === 'delta'));
  const during = (await scrape()).samples;
  expect(during.get('runway_sse_connections')).toBeGreaterThanOrEqual(1);
  expect(during.get('runway_active_runs')).toBeGreaterThanOrEqual(1);
  await stream.finished();
  await waitForRun(stack, account, done.body.id);

  const stopped = await startRun(stack, account, { prompt: words(200, 'slow'), model: 'demo/echo', maxTokens: 400 });
  await waitForRun(stack, account, stopped.body.id, (r) => r.status === 'running' && r.usage.outputTokens > 0); // past its first token
  expect((await stack.http.post(`/v1/runs/${stopped.body.id}/stop`).set(bearer(account))).status).toBe(202);
  await waitForRun(stack, account, stopped.body.id);
  const refused = await startRun(stack, account, { prompt: 'too big', model: 'demo/echo', maxTokens: 100_000 });
  expect(refused.status).toBe(402);
  for (const deadline = Date.now() + 20_000; receiver.received.filter((r) => r.path === '/metrics-hook').length < 2 && Date.now() < deadline; ) await sleep(50);
  // An attempt is counted once its outcome is recorded, just after the receiver has answered.
  const delivered = 'runway_webhook_deliveries_total{outcome="delivered"}';
  for (const deadline = Date.now() + 10_000; delta(before, (await scrape()).samples, delivered) < 2 && Date.now() < deadline; ) await sleep(50);

  const { samples: after, text } = await scrape();
  expect(delta(before, after, 'runway_runs_admitted_total')).toBe(2);
  expect(delta(before, after, 'runway_runs_refused_total{reason="insufficient-credits"}')).toBe(1);
  expect(delta(before, after, 'runway_runs_finished_total{status="succeeded"}')).toBe(1);
  expect(delta(before, after, 'runway_runs_finished_total{status="stopped"}')).toBe(1);
  // Money as the ledger has it: what was reserved was charged or refunded, to the credit.
  const reserved = delta(before, after, 'runway_credits_total{kind="reserved"}');
  expect(reserved).toBe(done.body.estimate + stopped.body.estimate);
  expect(delta(before, after, 'runway_credits_total{kind="charged"}') + delta(before, after, 'runway_credits_total{kind="refunded"}')).toBe(reserved);
  expect(delta(before, after, 'runway_http_requests_total{method="POST",route="/v1/runs",status="202"}')).toBe(2);
  expect(delta(before, after, 'runway_http_requests_total{method="POST",route="/v1/runs",status="402"}')).toBe(1);
  expect(delta(before, after, 'runway_admission_duration_seconds_count')).toBe(3);
  expect(delta(before, after, 'runway_stop_duration_seconds_count')).toBe(1);
  expect(delta(before, after, 'runway_time_to_first_token_seconds_count{provider="demo"}')).toBe(2);
  expect(delta(before, after, 'runway_events_written_total')).toBeGreaterThanOrEqual(2);
  expect(delta(before, after, 'runway_event_fanout_seconds_count')).toBeGreaterThanOrEqual(1);
  expect(delta(before, after, 'runway_webhook_deliveries_total{outcome="delivered"}')).toBe(2);
  expect(after.get('runway_sse_connections')).toBe(0);
  expect(after.has('runway_outbox_backlog')).toBe(true);
  expect(after.has('runway_outbox_oldest_age_seconds')).toBe(true);
  expect(after.get('runway_process_resident_memory_bytes')).toBeGreaterThan(0);
  // Labels are bounded: no series per run, account or key.
  for (const secretish of [done.body.id, account.id, account.apiKey]) expect(text).not.toContain(secretish);
});

test('the Grafana dashboard (deploy/grafana) charts only metrics that exist', async () => {
  const dashboard = JSON.parse(readFileSync(path.join(__dirname, '..', 'deploy/grafana/dashboards/runway.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
  const names = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/runway_[a-z0-9_]+/g) ?? [])));
  expect(names.size).toBeGreaterThan(10);
  const { text } = await scrape();
  for (const name of names) expect(`${name}: ${text.includes(`# TYPE ${name.replace(/_bucket$/, '')} `)}`).toBe(`${name}: true`);
});

test('GET /metrics needs the metrics token when one is set (not an API key)', async () => {
  const account = await createAccount(stack, 10);
  expect((await fetch(`${stack.baseUrl}/metrics`)).status).toBe(401);
  expect((await fetch(`${stack.baseUrl}/metrics`, { headers: bearer(account) })).status).toBe(401);
  expect((await fetch(`${stack.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } })).status).toBe(401);
  const problem = (await (await fetch(`${stack.baseUrl}/metrics`)).json()) as { type: string };
  expect(problem.type).toMatch(/unauthorized$/);
});

test('in production the API serves no metrics without a token', async () => {
  const production = await startStack({ worker: false, env: { NODE_ENV: 'production' } });
  try {
    const res = await fetch(`${production.baseUrl}/metrics`);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('runway_');
  } finally {
    await production.stop();
  }
});

describe('a worker process', () => {
  let worker: PlatformProcess | undefined;
  afterAll(async () => {
    await worker?.kill();
  });

  test('serves its own metrics on RUNWAY_WORKER_METRICS_PORT, behind the same token', async () => {
    const local = await startStack({ worker: false });
    try {
      const port = await freePort();
      worker = await spawnWorker({ ...stackEnv(local), RUNWAY_WORKER_METRICS_PORT: String(port), RUNWAY_METRICS_TOKEN: METRICS_TOKEN });
      const url = `http://127.0.0.1:${port}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      const account = await createAccount(local, 1_000);
      const run = await startRun(local, account, { prompt: 'counted by the worker', model: 'demo/echo', maxTokens: 16 });
      await waitForRun(local, account, run.body.id);
      const { samples } = await scrape(url);
      expect(samples.get('runway_runs_finished_total{status="succeeded"}')).toBe(1);
      expect(samples.get('runway_credits_total{kind="charged"}')! + samples.get('runway_credits_total{kind="refunded"}')!).toBe(run.body.estimate);
      expect(samples.get('runway_time_to_first_token_seconds_count{provider="demo"}')).toBe(1);
      expect(samples.get('runway_events_written_total')).toBeGreaterThanOrEqual(1);
      expect(samples.get('runway_process_resident_memory_bytes')).toBeGreaterThan(0);
    } finally {
      await worker?.kill();
      await local.stop();
    }
  });
});
