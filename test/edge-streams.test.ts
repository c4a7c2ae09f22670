import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROBLEM_BASE } from '../src/api/problem';
import { bearer, createAccount, startRun, type TestAccount } from './helpers/api';
import { FakeOpenAi } from './helpers/fake-openai';
import { SseConnection, words } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';

const MAX_STREAMS = 3;
const WRITE_TIMEOUT_MS = 1000;
const BIG_MODEL = 'openai/big';

let stack: TestStack;
const fake = new FakeOpenAi();
beforeAll(async () => {
  await fake.start();
  stack = await startStack({
    env: {
      RUNWAY_MAX_STREAMS_PER_ACCOUNT: String(MAX_STREAMS),
      RUNWAY_SSE_WRITE_TIMEOUT_MS: String(WRITE_TIMEOUT_MS),
      RUNWAY_DEMO_DELAY_MS: '50',
      RUNWAY_OPENAI_BASE_URL: fake.baseUrl,
      RUNWAY_PRICES: JSON.stringify({ [BIG_MODEL]: { input: 1, output: 1 } }),
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await fake.stop();
});

const eventsUrl = (runId: string) => `${stack.baseUrl}/v1/runs/${runId}/events`;

/** A demo run that streams for about `seconds`. */
async function slowRun(account: TestAccount, seconds: number): Promise<string> {
  const n = Math.ceil((seconds * 1000) / 50);
  const res = await startRun(stack, account, { prompt: words(n), model: 'demo/echo', maxTokens: n + 10 });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

async function waitForStatus(runId: string, status: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await stack.db.selectFrom('runs').select('status').where('id', '=', runId).executeTakeFirstOrThrow();
    if (row.status === status) return;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${row.status}`);
    await sleep(100);
  }
}

describe('event streams per account', () => {
  test(`an account may hold ${MAX_STREAMS} streams at once: one more is 429, and closing one frees its slot`, async () => {
    const account = await createAccount(stack, 1_000_000);
    const other = await createAccount(stack, 1_000_000);
    const runId = await slowRun(account, 20);
    const open = await Promise.all(Array.from({ length: MAX_STREAMS }, () => SseConnection.open(eventsUrl(runId), bearer(account))));
    expect(open.map((c) => c.status)).toEqual(Array(MAX_STREAMS).fill(200));

    const refused = await fetch(eventsUrl(runId), { headers: bearer(account) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await refused.json()).toMatchObject({ type: `${PROBLEM_BASE}too-many-streams`, status: 429, maxStreams: MAX_STREAMS });

    // Another tenant is not affected.
    const theirs = await SseConnection.open(eventsUrl(await slowRun(other, 5)), bearer(other));
    expect(theirs.status).toBe(200);
    theirs.close();

    open[0]?.close();
    const deadline = Date.now() + 5_000;
    let again = await SseConnection.open(eventsUrl(runId), bearer(account));
    while (again.status === 429 && Date.now() < deadline) {
      await sleep(50);
      again = await SseConnection.open(eventsUrl(runId), bearer(account));
    }
    expect(again.status).toBe(200);
    for (const c of [...open, again]) c.close();
  });

  test('a client that never reads a large replay is dropped after the write timeout, and its slot is freed', async () => {
    const account = await createAccount(stack, 1_000_000);
    // About 12 MB of output: far more than the socket buffers on both sides hold.
    const token = 'x'.repeat(48 * 1024);
    const prompt = 'a big answer';
    fake.when(prompt, { kind: 'stream', tokens: Array(256).fill(token) });
    const res = await startRun(stack, account, { prompt, model: BIG_MODEL, maxTokens: 300 });
    expect(res.status).toBe(202);
    const bigRun = res.body.id as string;
    await waitForStatus(bigRun, 'succeeded');

    const socket = net.connect(Number(new URL(stack.baseUrl).port), '127.0.0.1');
    socket.on('error', () => undefined); // a reset is as good as a close here
    socket.pause(); // never reads until told to
    socket.write(`GET /v1/runs/${bigRun}/events HTTP/1.1\r\nHost: runway\r\nAuthorization: Bearer ${account.apiKey}\r\nAccept: text/event-stream\r\n\r\n`);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await sleep(WRITE_TIMEOUT_MS + 3_000);

    // All slots are free again: the stalled replay no longer holds one.
    const live = await slowRun(account, 10);
    const streams = await Promise.all(Array.from({ length: MAX_STREAMS }, () => SseConnection.open(eventsUrl(live), bearer(account))));
    expect(streams.map((c) => c.status)).toEqual(Array(MAX_STREAMS).fill(200));
    for (const c of streams) c.close();

    // The client, reading at last, gets what was buffered and then the end of the connection: no `end` event.
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.resume();
    await Promise.race([closed, sleep(15_000).then(() => Promise.reject(new Error('the server never closed the stalled connection')))]);
    expect(received.startsWith('HTTP/1.1 200')).toBe(true);
    expect(received).not.toContain('event: end');
    expect(received.length).toBeLessThan(256 * token.length);
  }, 90_000);
});
