import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';
import { WebhookReceiver } from './helpers/webhook-receiver';
import { webhookAttemptWorkflowId, webhookWorkflowId } from '../workflows/webhook-delivery';

/**
 * A delivery waiting for its next retry holds no slot of its account's in-flight cap (issue #26,
 * item 2): a long wait is spent parked in PostgreSQL, not in a workflow timer, so one dead
 * endpoint of a tenant cannot hold the tenant's whole cap for the schedule's days while its
 * healthy endpoints get nothing; and the account's slots go first to the endpoints with the
 * fewest deliveries in flight. The dead endpoint's deliveries are still retried on schedule, end
 * `failed` after it, and a parked one can be sent again by hand.
 */
const CAP = 3;
const RUNS = 3 * CAP;
const TIMEOUT_MS = 1_500;
const LONG_WAIT_MS = 6_000;
/** 4 attempts: a short wait (a timer in the workflow), then two long ones (parked). */
const SCHEDULE = `300ms,${LONG_WAIT_MS / 1000}s,${LONG_WAIT_MS / 1000}s`;
const ATTEMPTS = 4;
let stack: TestStack;
const receiver = new WebhookReceiver();

/** Accepts connections and never answers; notes when each delivery's attempts connected (by webhook-id). */
class Tarpit {
  private readonly sockets = new Set<net.Socket>();
  /** webhook-id → Date.now() of each attempt's request. */
  readonly attempts = new Map<string, number[]>();
  maxOpen = 0;
  private readonly server = net.createServer((socket) => {
    this.sockets.add(socket);
    this.maxOpen = Math.max(this.maxOpen, this.sockets.size);
    let head = '';
    const at = Date.now();
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += chunk.toString('latin1');
      const id = /\r\nwebhook-id: *([^\r\n]+)/i.exec(head)?.[1];
      if (id && head.includes('\r\n\r\n')) this.attempts.set(id, [...(this.attempts.get(id) ?? []), at]);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  });

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
const tarpit = new Tarpit();

beforeAll(async () => {
  await receiver.start();
  await tarpit.start();
  stack = await startStack({
    env: {
      RUNWAY_WEBHOOK_ALLOW_PRIVATE: 'true',
      RUNWAY_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
      RUNWAY_WEBHOOK_RETRY_SCHEDULE: SCHEDULE,
      RUNWAY_WEBHOOK_PARK_AFTER_MS: '3000',
      RUNWAY_WEBHOOK_POLL_MS: '250',
      RUNWAY_WEBHOOK_MAX_IN_FLIGHT_PER_ACCOUNT: String(CAP),
    },
  });
});
afterAll(async () => {
  await tarpit.stop();
  await stack?.stop();
  await receiver.stop();
});

interface DeliveryView {
  id: string;
  runId: string;
  status: string;
  attempts: number;
  nextAttemptAt: string | null;
}

async function register(account: TestAccount, url: string): Promise<string> {
  const res = await stack.http.post('/v1/webhooks').set(bearer(account)).send({ url });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function deliveries(account: TestAccount, webhookId: string): Promise<DeliveryView[]> {
  const res = await stack.http.get(`/v1/webhooks/${webhookId}/deliveries?limit=100`).set(bearer(account));
  expect(res.status).toBe(200);
  return res.body.data as DeliveryView[];
}

async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

async function workflowStatus(workflowId: string): Promise<string | undefined> {
  try {
    return (await stack.temporal.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

test(`an account's dead endpoint with ${RUNS} deliveries in retry waits (cap ${CAP}): its healthy endpoint gets every webhook promptly; the dead one's are retried on schedule and end failed`, async () => {
  const account = await createAccount(stack, 100_000, { maxActiveRuns: RUNS + 5 });
  const dead = await register(account, `http://127.0.0.1:${tarpit.port}/dead`);
  await register(account, `${receiver.url}/healthy`);

  const runIds: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const res = await startRun(stack, account, { prompt: `run ${i}`, model: 'demo/echo', maxTokens: 4 });
    expect(res.status).toBe(202);
    runIds.push(res.body.id as string);
  }
  const runs = await Promise.all(runIds.map((id) => waitForRun(stack, account, id, undefined, 60_000)));

  // Every healthy webhook arrives within seconds of its run's end, while the dead endpoint's
  // deliveries (3 × the cap) are failing and waiting for their retries.
  const healthy = await receiver.waitFor('/healthy', RUNS, 60_000);
  const lags = runs.map((run) => {
    const got = healthy.find((h) => (JSON.parse(h.body) as { data: { id: string } }).data.id === run.id);
    return (got?.at ?? Infinity) - Date.parse(run.completedAt as string);
  });
  console.log(`healthy endpoint: webhook lags ${lags.join(', ')} ms`);
  expect(Math.max(...lags)).toBeLessThan(8_000);

  // A dead delivery in a long wait: pending in the API, its next attempt ahead, and no workflow
  // open for it in Temporal (it is parked in PostgreSQL).
  const parked = await until(
    'a dead delivery waiting for its third attempt',
    () => deliveries(account, dead),
    (ds) => ds.some((d) => d.status === 'pending' && d.attempts === 2 && Date.parse(d.nextAttemptAt ?? '') > Date.now() + 1_000),
    30_000,
  ).then((ds) => ds.find((d) => d.status === 'pending' && d.attempts === 2 && Date.parse(d.nextAttemptAt ?? '') > Date.now() + 1_000) as DeliveryView);
  expect(Date.parse(parked.nextAttemptAt as string) - Date.now()).toBeLessThanOrEqual(LONG_WAIT_MS);
  // (Its workflow ends right after the attempt's record: the activity reports back, then it returns.)
  await until('the parked delivery\'s workflow ends', () => workflowStatus(webhookWorkflowId(parked.id, 1)), (st) => st === 'COMPLETED', 5_000);
  expect(await stack.temporal.workflow.getHandle(webhookWorkflowId(parked.id, 1)).result()).toBe('parked');

  // Another one, sent again by hand while parked: its new generation starts at once, from its
  // first attempt; the parked continuation of the old generation never runs.
  const other = (await deliveries(account, dead)).find(
    (d) => d.id !== parked.id && d.status === 'pending' && d.attempts === 2 && Date.parse(d.nextAttemptAt ?? '') > Date.now() + 1_000,
  );
  let retried: DeliveryView | undefined;
  if (other) {
    const res = await stack.http.post(`/v1/webhooks/${dead}/deliveries/${other.id}/retry`).set(bearer(account));
    expect(res.status).toBe(202);
    retried = other;
    await until('the manual retry started', () => workflowStatus(webhookWorkflowId(other.id, 2)), (s) => s !== undefined, 10_000);
  }

  // Every dead delivery is retried on schedule and ends failed after its last attempt.
  const final = await until(
    'the dead deliveries end failed',
    () => deliveries(account, dead),
    (ds) => ds.length === RUNS && ds.every((d) => d.status === 'failed'),
    90_000,
  );
  for (const d of final) {
    expect(d).toMatchObject({ status: 'failed', nextAttemptAt: null, attempts: d.id === retried?.id ? 2 + ATTEMPTS : ATTEMPTS });
    const at = tarpit.attempts.get(d.id) ?? [];
    expect(at).toHaveLength(d.attempts);
    if (d.id === retried?.id) continue;
    // The long waits: at least the schedule's, and not much later (a poll, a few attempts ahead in the queue).
    for (const i of [2, 3]) {
      const gap = (at[i] as number) - (at[i - 1] as number);
      expect(gap).toBeGreaterThanOrEqual(LONG_WAIT_MS);
      expect(gap).toBeLessThan(LONG_WAIT_MS + TIMEOUT_MS + 15_000);
    }
  }
  if (retried) expect(await workflowStatus(webhookAttemptWorkflowId(retried.id, 1, 3))).toBeUndefined();
  console.log(`dead endpoint: attempts ${JSON.stringify([...tarpit.attempts.values()].map((a) => a.map((t) => t - (a[0] as number))))}; max open ${tarpit.maxOpen}`);
  // Never more than the account's cap at once against the tarpit.
  expect(tarpit.maxOpen).toBeLessThanOrEqual(CAP);
}, 180_000);
