import { createAccount, bearer, startRun, waitForRun, type TestAccount } from './helpers/api';
import { spawnWorker, stackEnv, type PlatformProcess } from './helpers/processes';
import { expectContiguous, outputOf, SseConnection, words } from './helpers/sse';
import { startStack, type TestStack } from './helpers/stack';

/** The in-process API only; the work is done by real worker processes, one of which dies. */
let stack: TestStack;
let account: TestAccount;
const workers: PlatformProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ worker: false });
  account = await createAccount(stack, 1_000_000);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  await stack?.stop();
});

test('a worker killed mid-run: the retry emits `reset`, and applying the rule to the events gives exactly the output', async () => {
  const env = { ...stackEnv(stack), RUNWAY_DEMO_DELAY_MS: '40' }; // info logs: spawnWorker waits for "worker running"
  // The first worker streams at 400 ms a token: its attempt has half a minute of output left when
  // it is killed, so it is always killed mid-execute, however slowly this test gets to the kill.
  const first = await spawnWorker({ ...env, RUNWAY_DEMO_DELAY_MS: '400' });
  workers.push(first);
  const prompt = words(80, 'r');
  const res = await startRun(stack, account, { prompt, model: 'demo/echo', maxTokens: 100 });
  expect(res.status).toBe(202);
  const runId = res.body.id as string;

  const conn = await SseConnection.open(`${stack.baseUrl}/v1/runs/${runId}/events`, bearer(account));
  await conn.waitFor((m) => m.filter((x) => x.type === 'delta').length >= 3);
  await first.kill('SIGKILL'); // mid-execute: its partial output is already in the event log
  workers.push(await spawnWorker(env));
  await conn.finished(50_000);

  const run = await waitForRun(stack, account, runId);
  expect(run.status).toBe('succeeded');
  expect(run.output).toBe(prompt);
  const row = await stack.db.selectFrom('runs').select('last_event_id').where('id', '=', runId).executeTakeFirstOrThrow();
  expectContiguous(conn.ids, 1, Number(row.last_event_id));

  const resets = conn.messages.filter((m) => m.type === 'reset');
  expect(resets).toEqual([expect.objectContaining({ type: 'reset', data: { attempt: 2, reason: 'retry' } })]);
  const naive = conn.messages.flatMap((m) => (m.type === 'delta' ? [(m.data as { text: string }).text] : [])).join('');
  expect(naive).not.toBe(run.output); // the first attempt's partial output is in the stream…
  expect(outputOf(conn.messages)).toBe(run.output); // …and the reset rule removes it

  // A client that joins afterwards replays the same log and, with the same rule, the same output.
  const replay = await SseConnection.open(`${stack.baseUrl}/v1/runs/${runId}/events`, bearer(account));
  await replay.finished(5_000);
  expect(outputOf(replay.messages)).toBe(run.output);
}, 90_000);
