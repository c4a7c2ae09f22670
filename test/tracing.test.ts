import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, createAccount, waitForRun, type TestAccount } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { OtlpCollector, type ReceivedSpan } from './helpers/otlp-collector';
import { spawnApi, spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { SseConnection } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';
import { redactText } from '../src/telemetry/redact';
import { statusQuery } from '../workflows/definitions';

/**
 * Traces end to end: a real API and a real worker process export to an OTLP collector in this
 * process; one run must come out as one trace with the expected tree, and nothing secret in it.
 */
const ROOT = path.resolve(__dirname, '..');
const MODEL = 'openai/gpt-4o-mini';
/** Batches go out every 100 ms, so a test waits for spans, not for the default 5 s. */
const BSP_DELAY_MS = 100;

let stack: TestStack;
let fake: FakeOpenAi;
let collector: OtlpCollector;
const processes: PlatformProcess[] = [];

beforeAll(async () => {
  // The in-process stack only serves the test's own set-up (accounts, reads); no worker of its own.
  stack = await startStack({ worker: false });
  fake = new FakeOpenAi({ kind: 'stream', tokens: ['traced', ' answer'] });
  await fake.start();
  collector = new OtlpCollector();
  await collector.start();
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill('SIGKILL')));
  await stack?.stop();
  await fake?.stop();
  await collector?.stop();
});

const hex = () => randomBytes(6).toString('hex');

async function post(baseUrl: string, url: string, headers: Record<string, string>, body: unknown) {
  const res = await fetch(`${baseUrl}${url}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; spans so far: ${collector.spans.map((s) => s.name).join(', ')}`);
    await sleep(50);
  }
}

/** The span tree of one run without a workspace or session, as docs/README describe it. */
const RUN_SPANS = [
  'POST /v1/runs',
  'StartWorkflow:runWorkflow',
  'RunWorkflow:runWorkflow',
  'StartActivity:executeModel',
  'RunActivity:executeModel',
  'provider.call',
  'StartActivity:settleRun',
  'RunActivity:settleRun',
];

/** The spans of the run's trace, once all of RUN_SPANS have arrived. */
function traceOf(runId: string): Promise<ReceivedSpan[]> {
  return waitFor(`the trace of ${runId}`, () => {
    const start = collector.spans.find((s) => s.name === 'StartWorkflow:runWorkflow' && s.attributes.temporalWorkflowId === runId);
    const spans = start ? collector.spans.filter((s) => s.traceId === start.traceId) : [];
    return RUN_SPANS.every((name) => spans.some((s) => s.name === name)) ? spans : undefined;
  });
}

async function startTracedRun(api: { baseUrl: string }, account: TestAccount, secrets: { prompt: string; key: string }) {
  const res = await post(api.baseUrl, '/v1/runs', bearer(account), { model: MODEL, prompt: secrets.prompt, maxTokens: 20, secrets: { apiKey: secrets.key } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

describe('with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  let api: PlatformProcess & { baseUrl: string };
  let worker: PlatformProcess;
  let account: TestAccount;

  beforeAll(async () => {
    const env = {
      ...stackEnv(stack),
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: String(BSP_DELAY_MS),
    };
    [api, worker] = await Promise.all([spawnApi(env), spawnWorker(env)]);
    processes.push(api, worker);
    account = await createAccount(stack, 10_000);
  }, 120_000); // the worker bundles its workflows (with the tracing interceptors) at start

  test('one run is one trace: the HTTP request → workflow start → workflow → each activity → the provider call', async () => {
    const secrets = { prompt: `trace this prompt ${hex()}`, key: `sk-trace-${hex()}` };
    const runId = await startTracedRun(api, account, secrets);
    expect((await waitForRun(stack, account, runId)).status).toBe('succeeded');
    const spans = await traceOf(runId);

    // Each exactly once (no span duplicated by a replay or a retried export), and nothing else unexpected in the run's trace.
    const names = spans.map((s) => s.name).sort();
    expect(names).toEqual([...RUN_SPANS].sort());
    const byName = new Map(spans.map((s) => [s.name, s]));
    const span = (name: string) => byName.get(name) as ReceivedSpan;
    const parentOf = (name: string) => spans.find((s) => s.spanId === span(name).parentSpanId)?.name;

    expect(span('POST /v1/runs').parentSpanId).toBeUndefined(); // the root: the client sent no traceparent
    expect(parentOf('StartWorkflow:runWorkflow')).toBe('POST /v1/runs');
    expect(parentOf('RunWorkflow:runWorkflow')).toBe('StartWorkflow:runWorkflow');
    for (const step of ['executeModel', 'settleRun']) {
      expect(parentOf(`StartActivity:${step}`)).toBe('RunWorkflow:runWorkflow');
      expect(parentOf(`RunActivity:${step}`)).toBe(`StartActivity:${step}`);
    }
    expect(parentOf('provider.call')).toBe('RunActivity:executeModel');

    expect(span('POST /v1/runs')).toMatchObject({ service: 'runway-api', attributes: { 'http.route': '/v1/runs', 'http.response.status_code': 202 } });
    expect(span('StartWorkflow:runWorkflow').service).toBe('runway-api');
    for (const name of RUN_SPANS.slice(2)) expect(span(name).service).toBe('runway-worker');
    expect(span('RunWorkflow:runWorkflow').attributes).toMatchObject({ workflowId: runId, workflowType: 'runWorkflow' });
    expect(span('provider.call').attributes).toMatchObject({
      'runway.run_id': runId,
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': MODEL,
      'gen_ai.usage.input_tokens': 11, // the fake provider's reported usage
      'gen_ai.usage.output_tokens': 2,
    });

    const exported = collector.bodies.join('\n');
    for (const secret of [secrets.prompt, secrets.key, account.apiKey, stack.adminToken]) expect(exported).not.toContain(secret);
    // The SDK's sink would copy the whole workflow info onto workflow spans: memo (the prompt's start) and search attributes stay out.
    expect(Object.keys(span('RunWorkflow:runWorkflow').attributes).sort()).toEqual(['attempt', 'namespace', 'runId', 'taskQueue', 'workflowId', 'workflowType']);
  });

  test('a replay of the finished workflow (a query rebuilds it from its history) exports no span again', async () => {
    const runId = await startTracedRun(api, account, { prompt: `replayed ${hex()}`, key: `sk-${hex()}` });
    expect((await waitForRun(stack, account, runId)).status).toBe('succeeded');
    const before = await traceOf(runId);
    // A closed workflow is not in the worker's cache: answering a query replays its whole history there.
    expect(await stack.temporal.workflow.getHandle(runId).query(statusQuery)).toMatchObject({ status: 'succeeded' });
    // The worker exports its spans in the order they end: once a later run's trace has arrived,
    // whatever the replay had handed to the exporter would have arrived before it.
    const later = await startTracedRun(api, account, { prompt: `after the replay ${hex()}`, key: `sk-${hex()}` });
    await waitForRun(stack, account, later);
    await traceOf(later);
    expect(collector.spans.filter((s) => s.traceId === before[0]?.traceId)).toHaveLength(before.length);
    expect(collector.spans.filter((s) => s.name === 'RunWorkflow:runWorkflow' && s.attributes.workflowId === runId)).toHaveLength(1);
    const ids = collector.spans.map((s) => s.spanId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('an event stream followed with ?access_token= is traced by its route; the token is in no span', async () => {
    const runId = await startTracedRun(api, account, { prompt: `streamed ${hex()}`, key: `sk-${hex()}` });
    const issued = await post(api.baseUrl, '/v1/tokens', bearer(account), { scope: { runs: [runId] } });
    expect(issued.status).toBe(201);
    const token = issued.body.token as string;
    const stream = await SseConnection.open(`${api.baseUrl}/v1/runs/${runId}/events?access_token=${encodeURIComponent(token)}`, {});
    expect(stream.status).toBe(200);
    await stream.finished();
    const span = await waitFor('the event stream span', () => collector.spans.find((s) => s.name === 'GET /v1/runs/:id/events'));
    expect(span).toMatchObject({ service: 'runway-api', attributes: { 'http.route': '/v1/runs/:id/events', 'http.response.status_code': 200 } });
    await traceOf(runId);
    expect(collector.bodies.join('\n')).not.toContain(token);
    expect(collector.bodies.join('\n')).not.toContain('access_token=');
  });
});

test('credentials that an attribute picked up are scrubbed before export', () => {
  expect(redactText('http://h/v1/runs/run_1/events?access_token=secret.part&x=1')).toBe('http://h/v1/runs/run_1/events?access_token=[redacted]&x=1');
  expect(redactText('Authorization: Bearer sk-abc.def')).toBe('Authorization: Bearer [redacted]');
  expect(redactText('/v1/runs?limit=10')).toBe('/v1/runs?limit=10');
});

test('tracing off (no OTLP endpoint): neither the SDK nor the Temporal interceptors are loaded', () => {
  // In a fresh process, as the API and worker load their modules; then tracing on, as the control.
  const script = `
    const root = ${JSON.stringify(ROOT)};
    const loaded = () => Object.keys(require.cache).filter((k) => /@opentelemetry[\\/\\\\](sdk-node|exporter-trace-otlp-http)|interceptors-opentelemetry/.test(k)).length;
    require(root + '/src/api/app'); require(root + '/src/worker/create-worker'); require(root + '/activities');
    const { startTracing } = require(root + '/src/telemetry');
    const logger = require(root + '/src/logger').createLogger('t', 'silent');
    (async () => {
      delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT; delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
      const off = { started: (await startTracing('t', logger)) !== undefined, modules: loaded() };
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://127.0.0.1:9';
      const tracing = await startTracing('t', logger);
      const on = { started: tracing !== undefined, modules: loaded() };
      await tracing.shutdown();
      process.stdout.write(JSON.stringify({ off, on }));
    })();
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--eval', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RUNWAY_LOG_LEVEL: 'silent' } });
  const { off, on } = JSON.parse(out) as { off: { started: boolean; modules: number }; on: { started: boolean; modules: number } };
  expect(off).toEqual({ started: false, modules: 0 });
  expect(on.started).toBe(true);
  expect(on.modules).toBeGreaterThan(0);
}, 60_000);

test('the recorded histories replay with the tracing interceptors in the bundle, and export nothing while replaying', () => {
  let stdout: string;
  try {
    stdout = execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'replay-histories.ts'), path.join(__dirname, 'fixtures', 'histories'), '--traced'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    stdout = String((err as { stdout?: string }).stdout ?? err);
  }
  const report = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
    replayed: number;
    results: { workflowId: string; error: string | null }[];
    tracing: { exportedDuringReplay: number; madeDuringReplay: number; names: string[]; attributeKeys: string[] };
  };
  expect(report.replayed).toBeGreaterThanOrEqual(13);
  expect(report.results.filter((r) => r.error)).toEqual([]);
  expect(report.tracing.exportedDuringReplay).toBe(0);
  // The control: the sandbox does make the spans during replay; only the sink keeps them in.
  expect(report.tracing.madeDuringReplay).toBeGreaterThan(report.replayed);
  expect(report.tracing.names).toEqual(expect.arrayContaining(['RunWorkflow:runWorkflow', 'StartActivity:executeModel', 'StartActivity:settleRun']));
  expect(report.tracing.attributeKeys).toEqual(['attempt', 'namespace', 'runId', 'taskQueue', 'workflowId', 'workflowType']);
}, 120_000);
