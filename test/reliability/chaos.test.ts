import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAccount, type TestAccount } from '../helpers/api';
import { FakeOpenAi } from '../helpers/fake-openai';
import { createFixtureRepo } from '../helpers/git-repos';
import { words } from '../helpers/sse';
import { WebhookReceiver } from '../helpers/webhook-receiver';
import { checkInvariants, waitUntilIdle } from './invariants';
import { report, size } from './mode';
import { ChaosPlatform, resilientFetch } from './platform';

/**
 * Scenario 1, chaos (issue #19): runs of every kind — demo, an OpenAI-compatible server with 5xx
 * and stalls, workspaces with setup, stopped midway, failing, session requests — while workers
 * are SIGKILLed every few seconds, an API process is killed, and the Temporal server restarts.
 * Then, once idle, every invariant is checked from PostgreSQL and Temporal.
 */
const RUNS = size(36, 300);
const KILL_EVERY_MS = size(4000, 4000);
const KINDS = ['demo', 'demo-long-stopped', 'openai', 'openai-5xx', 'openai-stall', 'openai-failing', 'workspace', 'session'] as const;
type Kind = (typeof KINDS)[number];

const platform = new ChaosPlatform();
const fake = new FakeOpenAi({ kind: 'stream', tokens: ['fine', ' answer'], delayMs: 20 });
const receiver = new WebhookReceiver();
const repos = mkdtempSync(path.join(os.tmpdir(), 'runway-chaos-repos-'));
let account: TestAccount;

beforeAll(async () => {
  await fake.start();
  await receiver.start();
  const repo = createFixtureRepo(repos);
  await platform.start({
    RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
    RUNWAY_OPENAI_API_KEY: 'sk-chaos-operator',
    RUNWAY_PROVIDER_IDLE_TIMEOUT_MS: '1500',
    RUNWAY_DEMO_DELAY_MS: '25',
    RUNWAY_LOCAL_REPOS_ROOT: repos,
    RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true',
    RUNWAY_WEBHOOK_RETRY_SCHEDULE: '1s,2s,3s,5s,5s,5s,10s,10s,10s,10s',
    RUNWAY_MAX_OPEN_SESSIONS: '1000',
  });
  process.env.RUNWAY_CHAOS_REPO = repo.path;
  await platform.addWorker();
  await platform.addApi();
  account = await createAccount(platform.stack, 10_000_000, { maxActiveRuns: 1000 });
  const hook = await platform.stack.http.post('/v1/webhooks').set('authorization', `Bearer ${account.apiKey}`).send({ url: `${receiver.url}/chaos` });
  expect(hook.status).toBe(201);
  receiver.script('/chaos', [500, 'hang', 500], 200); // the receiver itself misbehaves at first
}, 120_000);

afterAll(async () => {
  await platform.stop();
  await fake.stop();
  await receiver.stop();
  rmSync(repos, { recursive: true, force: true });
});

const apis = () => [platform.stack.baseUrl, ...platform.apis.map((a) => a.baseUrl)];
const auth = () => ({ authorization: `Bearer ${account.apiKey}`, 'content-type': 'application/json' });

interface Submitted {
  kind: Kind;
  id: string;
}

/** The body of a run of this kind; its prompt is unique, so the fake answers it as scripted. */
function bodyFor(kind: Kind, i: number): Record<string, unknown> {
  const prompt = `chaos ${i} ${kind}`;
  switch (kind) {
    case 'demo':
      return { prompt: words(8, `d${i}-`), model: 'demo/echo', maxTokens: 16 };
    case 'demo-long-stopped':
      return { prompt: words(400, `s${i}-`), model: 'demo/echo', maxTokens: 500 };
    case 'openai':
      return { prompt, model: 'openai/gpt-4o-mini', maxTokens: 32 };
    case 'openai-5xx':
      fake.when(prompt, { kind: 'status', status: 503 }, { kind: 'status', status: 500 });
      return { prompt, model: 'openai/gpt-4o-mini', maxTokens: 32 };
    case 'openai-stall':
      fake.when(prompt, { kind: 'hang' });
      return { prompt, model: 'openai/gpt-4o-mini', maxTokens: 32 };
    case 'openai-failing':
      // Every attempt refused: an attempt whose worker was killed mid-call is retried, and must fail again.
      fake.when(prompt, ...Array.from({ length: 10 }, () => ({ kind: 'status' as const, status: 400, body: '{"error":{"message":"bad request"}}' })));
      return { prompt, model: 'openai/gpt-4o-mini', maxTokens: 32 };
    case 'workspace':
      return { prompt: words(6, `w${i}-`), model: 'demo/echo', maxTokens: 16, workspace: { repo: process.env.RUNWAY_CHAOS_REPO, setup: ['echo prepared > made.txt', 'sleep 1'] } };
    case 'session':
      throw new Error('session requests are sent to a session');
  }
}

async function submit(kind: Kind, i: number, sessionId: string): Promise<Submitted> {
  const key = `chaos-${i}`;
  const [path, body] = kind === 'session' ? [`/v1/sessions/${sessionId}/requests`, { prompt: `turn ${i}` }] : ['/v1/runs', bodyFor(kind, i)];
  const res = await resilientFetch(apis, path, { method: 'POST', headers: { ...auth(), 'idempotency-key': key }, body: JSON.stringify(body) });
  if (res.status !== 202) throw new Error(`${kind} ${i}: ${res.status} ${await res.text()}`);
  const json = (await res.json()) as { id?: string; runId?: string };
  return { kind, id: (json.runId ?? json.id)! };
}

/** Kills a worker every few seconds, the spawned API once, the Temporal server once. */
async function chaos(submitted: () => boolean): Promise<{ workerKills: number; apiKills: number; temporalRestarts: number }> {
  const done = { workerKills: 0, apiKills: 0, temporalRestarts: 0 };
  // Until every run is submitted and each kind of fault has happened at least once.
  while (!(submitted() && done.temporalRestarts > 0)) {
    await sleep(KILL_EVERY_MS);
    await platform.killWorker();
    done.workerKills++;
    if (done.workerKills === 2) {
      await platform.killApi(0);
      done.apiKills++;
    }
    if (done.workerKills === 3) {
      await platform.restartTemporal();
      done.temporalRestarts++;
    }
  }
  return done;
}

test(`${RUNS} runs of every kind survive killed workers, a killed API and a Temporal restart`, async () => {
  const started = Date.now();
  const session = await resilientFetch(apis, '/v1/sessions', { method: 'POST', headers: auth(), body: JSON.stringify({ model: 'demo/echo', maxTokens: 16 }) });
  expect(session.status).toBe(201);
  const sessionId = ((await session.json()) as { id: string }).id;

  let submittedAll = false;
  const chaosDone = chaos(() => submittedAll);
  const submitted: Submitted[] = [];
  const stops: Promise<number>[] = [];
  for (let i = 0; i < RUNS; i += 4) {
    const batch = await Promise.all(Array.from({ length: Math.min(4, RUNS - i) }, (_, j) => submit(KINDS[(i + j) % KINDS.length]!, i + j, sessionId)));
    submitted.push(...batch);
    for (const s of batch.filter((b) => b.kind === 'demo-long-stopped')) {
      stops.push(sleep(500).then(() => resilientFetch(apis, `/v1/runs/${s.id}/stop`, { method: 'POST', headers: auth() })).then((r) => r.status));
    }
    await sleep(size(1500, 400)); // submissions spread over the faults
  }
  submittedAll = true;
  const kills = await chaosDone;
  // Each stop was accepted (202), or the run had already ended (409).
  for (const status of await Promise.all(stops)) expect([202, 409]).toContain(status);

  await waitUntilIdle(platform.stack.db, [account.id], size(180_000, 600_000));
  const close = await resilientFetch(apis, `/v1/sessions/${sessionId}`, { method: 'DELETE', headers: auth() });
  expect(close.status).toBe(202);
  await waitUntilIdle(platform.stack.db, [account.id], 60_000);

  // One run per submission, whatever the retries: Idempotency-Keys held through the chaos.
  const rows = await platform.stack.db.selectFrom('runs').select(['id', 'status', 'error', 'attempt']).where('account_id', '=', account.id).execute();
  expect(rows.length).toBe(RUNS);
  const statusOf = new Map(rows.map((r) => [r.id, r.status]));
  const why = new Map(rows.map((r) => [r.id, `attempt ${r.attempt} ${JSON.stringify(r.error)}`]));
  const wrong = submitted.filter((s) => {
    const status = statusOf.get(s.id);
    if (s.kind === 'openai-failing') return status !== 'failed';
    if (s.kind === 'demo-long-stopped') return status !== 'stopped' && status !== 'succeeded';
    return status !== 'succeeded';
  });
  expect(wrong.map((w) => `${w.kind} ${w.id} ${statusOf.get(w.id)} ${why.get(w.id)}`)).toEqual([]);

  const invariants = await checkInvariants(platform.stack, [account.id], receiver.received);
  expect(invariants.violations).toEqual([]);
  report('chaos', {
    runs: RUNS,
    seconds: Math.round((Date.now() - started) / 1000),
    ...kills,
    events: invariants.events,
    webhookDeliveries: invariants.deliveries,
    duplicateWebhookArrivals: invariants.duplicateWebhooks,
    statuses: Object.fromEntries(['succeeded', 'failed', 'stopped'].map((s) => [s, rows.filter((r) => r.status === s).length])),
  });
}, size(420_000, 1_800_000));
