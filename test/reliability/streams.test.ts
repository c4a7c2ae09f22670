import { setTimeout as sleep } from 'node:timers/promises';
import { createAccount, startRun, waitForRun, type TestAccount } from '../helpers/api';
import { spawnApi, stackEnv, type PlatformProcess } from '../helpers/processes';
import { SseConnection, words, type SseMessage } from '../helpers/sse';
import { startStack, type TestStack } from '../helpers/stack';
import { report, size } from './mode';
import { spawnApiOn } from './platform';

/**
 * Scenario 3, streams under restarts (issue #19): clients follow long runs through two API
 * processes that are SIGKILLed and started again; each client resumes with Last-Event-ID on
 * whichever API answers. Every transcript must be complete (ids 1..N, text = the run's output)
 * and free of duplicates.
 */
const RUNS = size(10, 50);
const CLIENTS_PER_RUN = size(2, 4);
const RESTARTS = size(3, 10);

let stack: TestStack;
let account: TestAccount;
const apis: (PlatformProcess & { baseUrl: string })[] = [];

beforeAll(async () => {
  stack = await startStack({ env: { RUNWAY_DEMO_DELAY_MS: '25', RUNWAY_MAX_STREAMS_PER_ACCOUNT: '1000' } });
  account = await createAccount(stack, 1_000_000, { maxActiveRuns: 500 });
  for (let i = 0; i < 2; i++) apis.push(await spawnApi({ ...stackEnv(stack), RUNWAY_MAX_STREAMS_PER_ACCOUNT: '1000', RUNWAY_LOG_LEVEL: 'warn' }));
}, 120_000);
afterAll(async () => {
  for (const a of apis) await a.kill('SIGKILL');
  await stack.stop();
});

/** Follows a run to its `end`, moving to the next API whenever the connection drops. */
async function follow(runId: string, first: number): Promise<{ received: SseMessage[]; reconnects: number }> {
  const received: SseMessage[] = [];
  let last = 0;
  let reconnects = -1;
  for (let k = first; reconnects < 200; k++) {
    reconnects++;
    const base = apis[k % apis.length]!.baseUrl;
    try {
      const conn = await SseConnection.open(`${base}/v1/runs/${runId}/events`, { authorization: `Bearer ${account.apiKey}`, ...(last ? { 'last-event-id': String(last) } : {}) });
      if (conn.status === 204) break; // nothing left after `last`
      if (conn.status !== 200) throw new Error(`HTTP ${conn.status}`);
      await conn.done;
      received.push(...conn.messages.filter((m) => m.id !== null));
      last = Math.max(last, ...received.map((m) => m.id!));
      if (received.some((m) => m.type === 'end')) break;
    } catch {
      await sleep(100); // that API is down: the next one
    }
  }
  return { received, reconnects };
}

test(`${RUNS * CLIENTS_PER_RUN} clients keep complete, duplicate-free transcripts through ${RESTARTS} API restarts`, async () => {
  const runIds: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const res = await startRun(stack, account, { prompt: words(160, `r${i}-`), model: 'demo/echo', maxTokens: 200 });
    expect(res.status).toBe(202);
    runIds.push(res.body.id);
  }
  const followers = runIds.flatMap((id, i) => Array.from({ length: CLIENTS_PER_RUN }, (_, j) => follow(id, i + j)));
  for (let r = 0; r < RESTARTS; r++) {
    await sleep(size(1200, 1500));
    const index = r % apis.length;
    await apis[index]!.kill('SIGKILL');
    apis[index] = await spawnApiOn({ ...stackEnv(stack), RUNWAY_MAX_STREAMS_PER_ACCOUNT: '1000', RUNWAY_LOG_LEVEL: 'warn' }, Number(new URL(apis[index]!.baseUrl).port));
  }
  const transcripts = await Promise.all(followers);

  let reconnects = 0;
  for (const [n, t] of transcripts.entries()) {
    const run = await waitForRun(stack, account, runIds[Math.floor(n / CLIENTS_PER_RUN)]!);
    const ids = t.received.map((m) => m.id!);
    expect(new Set(ids).size).toBe(ids.length); // no event twice
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1)); // none missing
    const head = await stack.db.selectFrom('runs').select('last_event_id').where('id', '=', run.id).executeTakeFirstOrThrow();
    expect(ids.length).toBe(Number(head.last_event_id));
    let text = '';
    for (const m of t.received) {
      if (m.type === 'reset') text = '';
      if (m.type === 'delta') text += (m.data as { text: string }).text;
    }
    expect(text).toBe(run.output);
    reconnects += t.reconnects;
  }
  report('streams', { clients: transcripts.length, runs: RUNS, apiRestarts: RESTARTS, reconnects });
}, size(240_000, 900_000));
