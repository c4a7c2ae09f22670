import { setTimeout as sleep } from 'node:timers/promises';
import { EventSource } from 'eventsource';
import { Runway, type RunwayEvent } from '../packages/client/src/index';
import { freePort } from '../src/temporal/dev-server';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { spawnApi, spawnPlatformProcess, stackEnv, type PlatformProcess } from './helpers/processes';
import { expectContiguous, outputOf, SseConnection, words, type SseMessage } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';

/** Two real API processes and the in-process worker, which does the runs' work. */
let stack: TestStack;
let account: TestAccount;
let env: Record<string, string>;
const processes: PlatformProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ env: { RUNWAY_DEMO_DELAY_MS: '30' } });
  account = await createAccount(stack, 1_000_000);
  env = { ...stackEnv(stack), RUNWAY_LOG_LEVEL: 'warn', RUNWAY_SSE_KEEPALIVE_MS: '1000' };
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill('SIGKILL')));
  await stack?.stop();
});

async function lastEventId(runId: string): Promise<number> {
  const row = await stack.db.selectFrom('runs').select('last_event_id').where('id', '=', runId).executeTakeFirstOrThrow();
  return Number(row.last_event_id);
}

async function startSlowRun(tokens: number): Promise<string> {
  const res = await startRun(stack, account, { prompt: words(tokens), model: 'demo/echo', maxTokens: tokens + 10 });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

/** An API process on a given port (so that a restarted one is reachable at the same URL). */
async function apiOnPort(port: number): Promise<PlatformProcess> {
  const proc = spawnPlatformProcess('api', { ...env, PORT: String(port) });
  processes.push(proc);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if ((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok) return proc;
    if (proc.child.exitCode !== null) throw new Error(`api exited early:\n${proc.output()}`);
    if (Date.now() > deadline) throw new Error(`api did not start:\n${proc.output()}`);
    await sleep(100);
  }
}

const persisted = (messages: SseMessage[]) => messages.filter((m) => m.id !== null);

test('two API processes: a client on each sees the same event sequence', async () => {
  const [api1, api2] = await Promise.all([spawnApi(env), spawnApi(env)]);
  processes.push(api1, api2);
  // 30 s of output: the run is still streaming once both clients have seen a live tick; it is
  // stopped then, and its end reaches both clients like any other event.
  const runId = await startSlowRun(1000);
  const open = (api: { baseUrl: string }) => SseConnection.open(`${api.baseUrl}/v1/runs/${runId}/events`, bearer(account));
  const [a, b] = await Promise.all([open(api1), open(api2)]);
  // Both follow live (volatile ticks are never replayed), so each process's own fan-out does the work.
  const tickSeen = (messages: SseMessage[]) => messages.some((m) => m.id === null);
  await Promise.all([a.waitFor(tickSeen), b.waitFor(tickSeen)]);
  expect((await stack.http.post(`/v1/runs/${runId}/stop`).set(bearer(account))).status).toBe(202);
  await Promise.all([a.finished(), b.finished()]);
  const run = await waitForRun(stack, account, runId);
  expect(run.status).toBe('stopped');
  expectContiguous(a.ids, 1, await lastEventId(runId));
  expect(persisted(b.messages)).toEqual(persisted(a.messages));
  expect(outputOf(a.messages)).toBe(run.output);
  expect(run.output.length).toBeGreaterThan(0);
});

test('an API process restarted mid-run: clients resume with Last-Event-ID and get complete transcripts', async () => {
  const port = await freePort();
  const first = await apiOnPort(port);
  const baseUrl = `http://127.0.0.1:${port}`;
  const runId = await startSlowRun(250);

  // The real EventSource client: it reconnects by itself, sending Last-Event-ID.
  const viaEventSource: { id: string; type: string; data: unknown }[] = [];
  let eventSourceErrors = 0;
  const es = new EventSource(`${baseUrl}/v1/runs/${runId}/events`, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...bearer(account) } }),
  });
  const esEnded = new Promise<void>((resolve) => {
    for (const type of ['status', 'delta', 'usage', 'error', 'reset', 'end']) {
      es.addEventListener(type, (e: MessageEvent) => {
        // EventSource also fires its own `error` (a connection failure, without data) under the same name.
        if (e.data === undefined) return;
        viaEventSource.push({ id: e.lastEventId, type, data: JSON.parse(String(e.data)) });
        if (type === 'end') {
          es.close();
          resolve();
        }
      });
    }
    es.onerror = () => eventSourceErrors++;
  });

  // The client SDK's stream (the terminal client follows runs with it).
  const viaFollower: RunwayEvent[] = [];
  const reconnects: number[] = [];
  const followed = (async () => {
    const rw = new Runway({ baseUrl, apiKey: account.apiKey });
    for await (const event of rw.runs.stream(runId, { onReconnect: ({ lastId }) => reconnects.push(lastId) })) {
      viaFollower.push(event);
    }
  })();

  const deltasSeen = () =>
    Math.min(viaEventSource.filter((e) => e.type === 'delta').length, viaFollower.filter((e) => e.type === 'delta').length);
  while (deltasSeen() < 3) await sleep(20);
  await first.kill('SIGKILL');
  await apiOnPort(port);
  await Promise.all([esEnded, followed]);

  const run = await waitForRun(stack, account, runId);
  const last = await lastEventId(runId);
  expect(reconnects.length).toBeGreaterThanOrEqual(1);
  expect(eventSourceErrors).toBeGreaterThanOrEqual(1);
  expectContiguous(viaEventSource.map((e) => Number(e.id)), 1, last);
  expectContiguous(viaFollower.flatMap((e) => (e.id === null ? [] : [e.id])), 1, last);
  const asMessages = (events: { id: string | number | null; type: string; data: unknown }[]) =>
    events.map((e) => ({ id: e.id === null ? null : Number(e.id), type: e.type, data: e.data }));
  expect(outputOf(asMessages(viaEventSource))).toBe(run.output);
  expect(outputOf(asMessages(viaFollower))).toBe(run.output);
  expect(run.output).toBe(words(250));
});
