import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventSource } from 'eventsource';
import { appendEventsNow, runStream, type NewRunEvent } from '../src/db/run-events';
import { liveOutputs } from '../src/db/run-output';
import { createLogger } from '../src/logger';
import { RunEventHub } from '../src/streams/run-event-hub';
import { PgListener } from '../src/db/pg-listener';
import { RunEventStream } from '../src/streams/run-event-stream';
import { DEFAULT_BATCH } from '../src/streams/output-batcher';
import { RunOutputWriter } from '../src/streams/run-output-writer';
import { SseWriter } from '../src/streams/sse-writer';
import { fromRunEventRow, type PersistedStreamEvent } from '../src/streams/stream-event';
import { bearer, createAccount, getRun, startRun, waitForRun, type TestAccount } from './helpers/api';
import { expectContiguous, outputOf, SseConnection, words, type SseMessage } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';

const DELAY_MS = 20;
let stack: TestStack;
let account: TestAccount;
const logger = createLogger('events-test', 'warn');

beforeAll(async () => {
  stack = await startStack({ env: { RUNWAY_DEMO_DELAY_MS: String(DELAY_MS), RUNWAY_SSE_KEEPALIVE_MS: '250' } });
  account = await createAccount(stack, 1_000_000);
});
afterAll(async () => {
  await stack?.stop();
});

const eventsUrl = (runId: string, query = '') => `${stack.baseUrl}/v1/runs/${runId}/events${query}`;
const open = (runId: string, headers: Record<string, string> = {}, query = '') =>
  SseConnection.open(eventsUrl(runId, query), { ...bearer(account), ...headers });
const deltas = (messages: SseMessage[]) => messages.filter((m) => m.type === 'delta').length;

async function lastEventId(runId: string): Promise<number> {
  const row = await stack.db.selectFrom('runs').select('last_event_id').where('id', '=', runId).executeTakeFirstOrThrow();
  return Number(row.last_event_id);
}

async function startSlowRun(tokens: number): Promise<{ id: string; prompt: string }> {
  const prompt = words(tokens);
  const res = await startRun(stack, account, { prompt, model: 'demo/echo', maxTokens: tokens + 10 });
  expect(res.status).toBe(202);
  return { id: res.body.id as string, prompt };
}

/** A run row written straight to the table, for event logs no model would produce quickly. */
async function insertScratchRun(status: 'running' | 'succeeded'): Promise<string> {
  const id = `run_scratch${Math.random().toString(36).slice(2, 10)}`;
  await stack.db
    .insertInto('runs')
    .values({
      id,
      account_id: account.id,
      status,
      step: status === 'running' ? 'execute' : 'done',
      model: 'demo/echo',
      prompt: 'scratch',
      max_tokens: 1,
      metadata: '{}',
      request_hash: 'scratch',
      estimate: 0,
      price_input: 0,
      price_output: 0,
    })
    .execute();
  return id;
}

describe('GET /v1/runs/:id/events', () => {
  test('replay-then-live: a client that reconnects with Last-Event-ID continues with no gap and no duplicate', async () => {
    const run = await startSlowRun(200); // about 4 s of output
    const first = await open(run.id);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await first.waitFor((m) => deltas(m) >= 3);
    first.close();
    const seen = first.ids;
    const lastSeen = seen[seen.length - 1] as number;
    expectContiguous(seen, 1, lastSeen);

    // Mid-run, once with the header and once with ?after=: both continue right after lastSeen.
    expect((await getRun(stack, account, run.id)).status).toBe('running');
    const resumed = await open(run.id, { 'last-event-id': String(lastSeen) });
    const byQuery = await open(run.id, {}, `?after=${lastSeen}`);
    await Promise.all([resumed.finished(), byQuery.finished()]);

    const finalRun = await waitForRun(stack, account, run.id);
    expect(finalRun.status).toBe('succeeded');
    const last = await lastEventId(run.id);
    for (const conn of [resumed, byQuery]) {
      expect(conn.endedByServer).toBe(true);
      expectContiguous(conn.ids, lastSeen + 1, last);
      expect(conn.messages[conn.messages.length - 1]).toEqual({ id: last, type: 'end', data: { status: 'succeeded' } });
      // Volatile events (no id) are only progress ticks.
      for (const m of conn.messages.filter((x) => x.id === null)) expect(m.type).toBe('progress');
      expect(conn.comments).toContain('keep-alive');
    }
    const transcript = [...first.messages.filter((m) => m.id !== null && m.id <= lastSeen), ...resumed.messages];
    expect(outputOf(transcript)).toBe(finalRun.output);
    expect(finalRun.output).toBe(run.prompt);
    // The live part really was live: it carried volatile ticks, which are never replayed.
    expect(resumed.messages.some((m) => m.id === null) || byQuery.messages.some((m) => m.id === null)).toBe(true);
  });

  test('a finished run replays everything and closes; the header wins over ?after; nothing left is 204', async () => {
    const run = await startSlowRun(5);
    const done = await waitForRun(stack, account, run.id);
    const last = await lastEventId(run.id);

    const all = await open(run.id);
    await all.finished(5_000);
    expectContiguous(all.ids, 1, last);
    expect(all.messages.every((m) => m.id !== null)).toBe(true);
    expect(all.messages.map((m) => m.type)).toEqual(expect.arrayContaining(['status', 'delta', 'usage', 'end']));
    expect(all.messages[0]).toEqual({ id: 1, type: 'status', data: { status: 'queued', step: 'reserve' } });
    expect(outputOf(all.messages)).toBe(done.output);

    const headerWins = await open(run.id, { 'last-event-id': '3' }, '?after=1');
    await headerWins.finished(5_000);
    expectContiguous(headerWins.ids, 4, last);

    const nothingLeft = await open(run.id, {}, `?after=${last}`);
    expect(nothingLeft.status).toBe(204);
  });

  test('unknown or foreign runs are 404, bad cursors 400, a missing key 401 (all problem+json)', async () => {
    const other = await createAccount(stack, 1000);
    const run = await startSlowRun(3);
    const cases: [string, Record<string, string>, number, string][] = [
      [eventsUrl('run_doesnotexist'), bearer(account), 404, 'not-found'],
      [eventsUrl(run.id), bearer(other), 404, 'not-found'],
      [eventsUrl(run.id, '?after=-1'), bearer(account), 400, 'validation-error'],
      [eventsUrl(run.id, '?after=1.5'), bearer(account), 400, 'validation-error'],
      [eventsUrl(run.id, '?after=abc'), bearer(account), 400, 'validation-error'],
      [eventsUrl(run.id), { ...bearer(account), 'last-event-id': 'x1' }, 400, 'validation-error'],
      [eventsUrl(run.id), {}, 401, 'unauthorized'],
    ];
    for (const [url, headers, status, type] of cases) {
      const res = await fetch(url, { headers });
      expect({ url, status: res.status }).toEqual({ url, status });
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { type: string }).type).toBe(`https://runway.dev/problems/${type}`);
    }
    await waitForRun(stack, account, run.id);
  });

  test('disconnecting every client neither stops nor slows the run', async () => {
    const baseline = await startSlowRun(100);
    const b = await waitForRun(stack, account, baseline.id);
    const baselineMs = Date.parse(b.completedAt as string) - Date.parse(b.startedAt as string);

    const run = await startSlowRun(100);
    const clients = await Promise.all([open(run.id), open(run.id), open(run.id, {}, '?after=1')]);
    await Promise.all(clients.map((c) => c.waitFor((m) => deltas(m) >= 1)));
    for (const c of clients) c.close();
    const r = await waitForRun(stack, account, run.id);
    expect(r.status).toBe('succeeded');
    expect(r.output).toBe(run.prompt);
    const ms = Date.parse(r.completedAt as string) - Date.parse(r.startedAt as string);
    // A run held up by its departed clients would take far longer (or never end); the margin is
    // for a loaded machine, not for the code.
    expect(ms).toBeLessThan(baselineMs * 1.5 + 3000);
  });

  test('the real EventSource client receives every event once, in order, and its deltas make the output', async () => {
    const run = await startSlowRun(60);
    const received: { id: string; type: string; data: unknown }[] = [];
    const es = new EventSource(eventsUrl(run.id), {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...bearer(account) } }),
    });
    const ended = new Promise<void>((resolve, reject) => {
      for (const type of ['status', 'progress', 'delta', 'log', 'usage', 'error', 'reset', 'end']) {
        es.addEventListener(type, (e: MessageEvent) => {
          if (e.data === undefined) return; // EventSource's own connection `error`, not the run's
          received.push({ id: e.lastEventId, type, data: JSON.parse(String(e.data)) });
          if (type === 'end') {
            es.close();
            resolve();
          }
        });
      }
      es.onerror = (e) => {
        if (es.readyState === EventSource.CLOSED) reject(new Error(`EventSource failed: ${e.message ?? ''}`));
      };
    });
    await ended;
    const r = await waitForRun(stack, account, run.id);
    const persisted = received.filter((e) => e.type !== 'progress');
    expectContiguous(persisted.map((e) => Number(e.id)), 1, await lastEventId(run.id));
    expect(outputOf(persisted.map((e) => ({ id: Number(e.id), type: e.type, data: e.data })))).toBe(r.output);
  });

  test('a dropped LISTEN connection reconnects and the stream catches up with nothing missing', async () => {
    const run = await startSlowRun(150);
    const conn = await open(run.id);
    await conn.waitFor((m) => deltas(m) >= 2);
    const killed = await stack.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'runway-api-listener' AND datname = current_database()`,
    );
    expect(killed.rowCount).toBeGreaterThanOrEqual(1);
    await conn.finished();
    const r = await waitForRun(stack, account, run.id);
    expectContiguous(conn.ids, 1, await lastEventId(run.id));
    expect(outputOf(conn.messages)).toBe(r.output);
  });

  test('a replay of 10,000 events is paged in big batches and fast', async () => {
    const runId = await insertScratchRun('running');
    for (let i = 0; i < 10; i++) {
      const batch: NewRunEvent[] = Array.from({ length: 1000 }, (_, j) => ({ type: 'delta', data: { text: `t${i * 1000 + j} ` } }));
      await appendEventsNow(stack.db, runStream(runId), batch);
    }
    await appendEventsNow(stack.db, runStream(runId), [{ type: 'end', data: { status: 'succeeded' } }]);
    await stack.db.updateTable('runs').set({ status: 'succeeded' }).where('id', '=', runId).execute();

    const started = performance.now();
    const conn = await open(runId);
    await conn.finished(10_000);
    const ms = performance.now() - started;
    expectContiguous(conn.ids, 1, 10_001);
    expect(outputOf(conn.messages)).toBe(Array.from({ length: 10_000 }, (_, i) => `t${i} `).join(''));
    expect(ms).toBeLessThan(5_000);
    process.stdout.write(`replayed 10,001 events in ${Math.round(ms)} ms\n`);
  });
});

describe('fan-out and the output writer', () => {
  let hub: RunEventHub;
  let listener: PgListener;
  beforeAll(() => {
    // Named as the API's, so the test that drops the API's connection drops this one too.
    listener = new PgListener({ connectionString: stack.config.databaseUrl, logger, applicationName: 'runway-api-listener' });
    hub = new RunEventHub({ db: stack.db, listener, logger, idleCloseMs: 100 });
  });
  afterAll(async () => {
    await hub.close();
    await listener.close();
  });

  test('a run is read once per notification for all of its subscribers, not once per client', async () => {
    const run = await startSlowRun(80);
    const got: PersistedStreamEvent[][] = [[], [], [], []];
    const unsubscribes = await Promise.all(
      got.map((list) => hub.subscribe(run.id, { events: (evs) => list.push(...evs), volatile: () => undefined })),
    );
    const readsBefore = hub.stats.reads;
    const notificationsBefore = hub.stats.notifications;
    await waitForRun(stack, account, run.id);
    const last = await lastEventId(run.id);
    while ((got[0]?.[got[0].length - 1]?.id ?? 0) < last) await sleep(10);
    for (const list of got) expect(list.map((e) => e.id)).toEqual(got[0]?.map((e) => e.id));
    const reads = hub.stats.reads - readsBefore;
    const notifications = hub.stats.notifications - notificationsBefore;
    // At most one read per notification (fewer when they coalesce), for 4 clients together.
    expect(reads).toBeLessThanOrEqual(notifications + 1);
    for (const unsubscribe of unsubscribes) unsubscribe();
    expect(hub.subscribedRuns).toBe(0);
  });

  test('output and logs come with their notification: delivered without reading the table, exactly as stored', async () => {
    const runId = await insertScratchRun('running');
    const got: PersistedStreamEvent[] = [];
    const unsubscribe = await hub.subscribe(runId, { events: (evs) => got.push(...evs), volatile: () => undefined });
    const before = { ...hub.stats };
    const writer = new RunOutputWriter(stack.db, runId, DEFAULT_BATCH);
    await writer.begin(1, { inputTokens: 0, outputTokens: 0 });
    for (let i = 0; i < 30; i++) {
      if (i % 10 === 0) writer.log('stderr', `step "${i}" — ünïcode`);
      writer.delta(`t${i} `);
      await sleep(5);
    }
    await writer.close();
    const last = await lastEventId(runId);
    while ((got[got.length - 1]?.id ?? 0) < last) await sleep(5);
    unsubscribe();
    expect(hub.stats.inlineDelivered - before.inlineDelivered).toBeGreaterThan(0);
    expect(hub.stats.reads - before.reads).toBeLessThan(hub.stats.notifications - before.notifications);
    const stored = await stack.db.selectFrom('run_events').selectAll().where('run_id', '=', runId).orderBy('id').execute();
    expect(got).toEqual(stored.map(fromRunEventRow));
    expect(got.filter((e) => e.type === 'log')).toHaveLength(3);
  });

  test("a running run's output is its current attempt's deltas, read from the log (a retry's reset starts it over)", async () => {
    const runId = await insertScratchRun('running');
    await appendEventsNow(stack.db, runStream(runId), [
      { type: 'delta', data: { text: 'first ' } },
      { type: 'log', data: { stream: 'stderr', line: 'not output' } },
      { type: 'delta', data: { text: 'attempt' } },
    ]);
    expect((await liveOutputs(stack.db, [runId])).get(runId)).toBe('first attempt');
    await appendEventsNow(stack.db, runStream(runId), [
      { type: 'reset', data: { attempt: 2, reason: 'retry' } },
      { type: 'delta', data: { text: 'second' } },
    ]);
    expect((await liveOutputs(stack.db, [runId, 'run_none'])).get(runId)).toBe('second');
  });

  test('events committed while the LISTEN connection is down arrive once it is back, with no notification left to wake it', async () => {
    const runId = await insertScratchRun('running');
    const got: PersistedStreamEvent[] = [];
    const unsubscribe = await hub.subscribe(runId, { events: (evs) => got.push(...evs), volatile: () => undefined });
    await appendEventsNow(stack.db, runStream(runId), [{ type: 'delta', data: { text: 'before ' } }]);
    while (got.length < 1) await sleep(5);
    const connectsBefore = hub.stats.connects;
    const listeners = `FROM pg_stat_activity WHERE application_name = 'runway-api-listener' AND datname = current_database()`;
    await stack.pool.query(`SELECT pg_terminate_backend(pid) ${listeners}`);
    while (Number((await stack.pool.query(`SELECT count(*) AS n ${listeners}`)).rows[0].n) > 0) await sleep(2);
    // Committed while nobody listens: its NOTIFY is lost, and nothing comes after it.
    await appendEventsNow(stack.db, runStream(runId), [
      { type: 'delta', data: { text: 'during' } },
      { type: 'end', data: { status: 'succeeded' } },
    ]);
    const deadline = Date.now() + 10_000;
    while (got.length < 3 && Date.now() < deadline) await sleep(10);
    unsubscribe();
    expect(got.map((e) => [e.id, e.type])).toEqual([
      [1, 'delta'],
      [2, 'delta'],
      [3, 'end'],
    ]);
    expect(hub.stats.connects).toBeGreaterThan(connectsBefore);
  });

  test('deltas are batched, and the batch window publishes them without waiting for the writer to close', async () => {
    const runId = await insertScratchRun('running');
    const arrivals: { at: number; event: PersistedStreamEvent }[] = [];
    const unsubscribe = await hub.subscribe(runId, {
      events: (evs) => arrivals.push(...evs.map((event) => ({ at: performance.now(), event }))),
      volatile: () => undefined,
    });
    const writer = new RunOutputWriter(stack.db, runId);
    await writer.begin(1, { inputTokens: 0, outputTokens: 0 });
    const fedAt = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      fedAt.set(`x${i} `, performance.now());
      writer.delta(`x${i} `);
      await sleep(7);
    }
    // 64 deltas at once are one batch, written at once.
    for (let i = 0; i < 64; i++) {
      fedAt.set(`y${i} `, performance.now());
      writer.delta(`y${i} `);
    }
    const closedAt = performance.now();
    await writer.close();
    while (arrivals.map((a) => (a.event.json.match(/[xy]\d+ /g) ?? []).length).reduce((a, b) => a + b, 0) < 104) await sleep(5);
    unsubscribe();

    let worst = 0;
    for (const { at, event } of arrivals) {
      for (const token of (JSON.parse(event.json) as { text: string }).text.match(/[xy]\d+ /g) ?? []) {
        worst = Math.max(worst, at - (fedAt.get(token) as number));
      }
    }
    expect(arrivals.length).toBeLessThan(30); // batched: 104 deltas in far fewer events
    // Fed over 280 ms with a 20 ms window: the timer, not the close, published the first ones.
    // (How late a delta may be published is a target of `npm run bench:events`, not of a test.)
    expect(arrivals[0]!.at).toBeLessThan(closedAt);
    process.stdout.write(`${arrivals.length} delta events for 104 deltas; worst delivery delay ${Math.round(worst)} ms\n`);
  });

  test('a client that stops reading is disconnected instead of buffering without bound; the run goes on', async () => {
    const run = await startSlowRun(150);
    // A response whose client never reads: nothing it is given is ever taken.
    const stalled = new Writable({ highWaterMark: 256, write: () => undefined });
    const sink = new SseWriter(stalled, { keepAliveMs: 60_000, retryMs: 1000 });
    const stream = new RunEventStream({
      streamId: run.id,
      afterId: 0,
      follow: true,
      db: stack.db,
      hub,
      sink,
      logger,
      pageSize: 2000,
      maxBufferBytes: 2048,
    });
    await stream.subscribe();
    sink.start();
    expect(await stream.run()).toBe('slow-client');
    expect(stalled.destroyed).toBe(true);
    const r = await waitForRun(stack, account, run.id);
    expect(r.status).toBe('succeeded');
    expect(r.output).toBe(run.prompt);
  });
});
