import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type RawBuilder } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { bearer, createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';
import { WebhookReceiver } from './helpers/webhook-receiver';
import { loadConfig } from '../src/config';
import { purgeFinishedBatch } from '../src/db/retention';
import { claimDueDeliveries, claimDueDeliveriesIn, recordDeliveryAttempt, type DispatchItem } from '../src/db/webhooks';
import { sendWebhook } from '../src/webhooks/send';
import { deliveryStore } from '../src/webhooks/dispatcher';
import { Outbox } from '../src/outbox/outbox';
import { createLogger } from '../src/logger';

/**
 * Webhook deliveries cannot starve other tenants (issue #26): they have their own task queue and
 * slots, an account has at most RUNWAY_WEBHOOK_MAX_IN_FLIGHT_PER_ACCOUNT started at once (the rest
 * wait in PostgreSQL), the dispatcher serves accounts round-robin, and a run's event body is
 * stored once whatever its number of endpoints.
 */
const CAP = 10;
const ENDPOINTS = 20;
const RUNS = 200;
let stack: TestStack;
const receiver = new WebhookReceiver();

/** A TCP server that accepts every connection and never answers: a tarpit receiver. */
class Tarpit {
  private readonly sockets = new Set<net.Socket>();
  private readonly server = net.createServer((socket) => {
    this.sockets.add(socket);
    this.maxOpen = Math.max(this.maxOpen, this.sockets.size);
    this.accepted++;
    socket.on('error', () => undefined);
    socket.resume(); // reads (and drops) the request, so that the client's close is seen
    socket.on('close', () => this.sockets.delete(socket));
  });
  accepted = 0;
  /** Most connections open at once. */
  maxOpen = 0;

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
      RUNWAY_WEBHOOK_TIMEOUT_MS: '4000',
      RUNWAY_WEBHOOK_RETRY_SCHEDULE: '1s',
      RUNWAY_WEBHOOK_POLL_MS: '500',
      RUNWAY_WEBHOOK_MAX_IN_FLIGHT_PER_ACCOUNT: String(CAP),
      RUNWAY_MAX_WEBHOOKS: String(ENDPOINTS),
    },
  });
});
afterAll(async () => {
  await tarpit.stop(); // first: the worker's attempts against it end at once
  await stack?.stop();
  await receiver.stop();
});

async function register(account: TestAccount, url: string): Promise<{ id: string; secret: string }> {
  const res = await stack.http.post('/v1/webhooks').set(bearer(account)).send({ url });
  expect(res.status).toBe(201);
  return { id: res.body.id as string, secret: res.body.secret as string };
}

/** An account's deliveries that have a delivery workflow started and are neither settled nor parked. */
async function inFlight(accountId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM webhook_deliveries
    WHERE account_id = ${accountId} AND status = 'pending' AND dispatched_generation = generation AND parked_attempt IS NULL`.execute(stack.db);
  return rows[0]?.n ?? 0;
}

async function deliveryCounts(accountId: string) {
  const { rows } = await sql<{ total: number; waiting: number; attempted: number; failed: number }>`
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE dispatched_generation < generation)::int AS waiting,
           count(*) FILTER (WHERE attempts > 0)::int AS attempted,
           count(*) FILTER (WHERE status = 'failed')::int AS failed
    FROM webhook_deliveries WHERE account_id = ${accountId}`.execute(stack.db);
  return rows[0] as { total: number; waiting: number; attempted: number; failed: number };
}

test(`a tenant with ${ENDPOINTS} never-answering endpoints and ${RUNS} runs: another tenant's run and webhook are prompt, and the first never has more than ${CAP} deliveries started`, async () => {
  const hostile = await createAccount(stack, 1_000_000, { maxActiveRuns: RUNS + 50 });
  for (let i = 0; i < ENDPOINTS; i++) await register(hostile, `http://127.0.0.1:${tarpit.port}/tarpit-${i}`);

  // Its in-flight deliveries, sampled from the database throughout.
  let maxInFlight = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      maxInFlight = Math.max(maxInFlight, await inFlight(hostile.id));
      await sleep(100);
    }
  })();

  try {
    const started: string[] = [];
    for (let i = 0; i < RUNS; i += 25) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(25, RUNS - i) }, () => startRun(stack, hostile, { prompt: 'tiny', model: 'demo/echo', maxTokens: 4 })),
      );
      for (const res of batch) {
        expect(res.status).toBe(202);
        started.push(res.body.id as string);
      }
    }
    // Until half of its runs have fanned out into deliveries (4000 when all have).
    for (const deadline = Date.now() + 60_000; (await deliveryCounts(hostile.id)).total < (RUNS / 2) * ENDPOINTS; await sleep(200)) {
      if (Date.now() > deadline) throw new Error(`the hostile tenant's runs did not settle: ${JSON.stringify(await deliveryCounts(hostile.id))}`);
    }

    const victim = await createAccount(stack, 10_000);
    const hook = await register(victim, `${receiver.url}/victim`);
    const begun = Date.now();
    const res = await startRun(stack, victim, { prompt: 'the other tenant', model: 'demo/echo', maxTokens: 8, metadata: { order: 7 } });
    expect(res.status).toBe(202);
    const run = await waitForRun(stack, victim, res.body.id as string, undefined, 60_000);
    expect(run.status).toBe('succeeded');
    const runMs = Date.now() - begun;
    const [got] = await receiver.waitFor('/victim', 1, 60_000);
    const lagMs = (got?.at ?? Infinity) - Date.parse(run.completedAt as string);
    console.log(`victim: run ${runMs} ms, webhook ${lagMs} ms after completion; hostile: ${JSON.stringify(await deliveryCounts(hostile.id))}, max in flight ${maxInFlight}, tarpit max open ${tarpit.maxOpen}`);
    expect(runMs).toBeLessThan(45_000);
    expect(lagMs).toBeLessThan(10_000);
    expect(() => new Webhook(hook.secret).verify(got?.body ?? '', got?.headers ?? {})).not.toThrow();

    // Its deliveries were served (their own workflows, on the webhook queue), up to the cap ...
    const description = await stack.temporal.workflow.getHandle(got?.headers['webhook-id'] as string).describe();
    expect(description.taskQueue).toBe(`${stack.config.temporal.taskQueue}-webhooks`);
    // (as each one fails, the next waiting one takes its place) ...
    for (const deadline = Date.now() + 40_000; (await deliveryCounts(hostile.id)).failed < CAP; await sleep(200)) {
      if (Date.now() > deadline) throw new Error(`the hostile tenant's deliveries are not served: ${JSON.stringify(await deliveryCounts(hostile.id))}`);
    }
    for (const deadline = Date.now() + 10_000; (await deliveryCounts(hostile.id)).attempted <= CAP; await sleep(200)) {
      if (Date.now() > deadline) throw new Error(`no delivery of the hostile tenant took a freed slot: ${JSON.stringify(await deliveryCounts(hostile.id))}`);
    }
    const hostileNow = await deliveryCounts(hostile.id);
    // ... and the rest of its backlog waits in PostgreSQL, not in Temporal.
    expect(hostileNow.waiting).toBeGreaterThan(hostileNow.total / 2);
  } finally {
    sampling = false;
    await sampler;
  }
  console.log(`hostile at the end: ${JSON.stringify(await deliveryCounts(hostile.id))}, max in flight ${maxInFlight}, tarpit max open ${tarpit.maxOpen}, accepted ${tarpit.accepted}`);
  expect(maxInFlight).toBeGreaterThan(0);
  expect(maxInFlight).toBeLessThanOrEqual(CAP);
  expect(tarpit.maxOpen).toBeLessThanOrEqual(CAP);
}, 110_000);

test('a run with several endpoints stores its event body once; retention purges it with the run', async () => {
  const account = await createAccount(stack, 10_000);
  const hooks = [];
  for (let i = 0; i < 5; i++) hooks.push(await register(account, `${receiver.url}/once-${i}`));
  const metadata = { blob: 'm'.repeat(8_000) };
  const res = await startRun(stack, account, { prompt: 'once', model: 'demo/echo', maxTokens: 4, metadata });
  const run = await waitForRun(stack, account, res.body.id as string);
  const bodies = await Promise.all(hooks.map(async (_, i) => (await receiver.waitFor(`/once-${i}`, 1))[0]?.body));

  const { rows } = await sql<{ n: number; bytes: number; body: string }>`
    SELECT count(*)::int AS n, sum(octet_length(body))::int AS bytes, min(body) AS body FROM webhook_payloads WHERE run_id = ${run.id}`.execute(stack.db);
  const stored = rows[0]!;
  expect(stored.n).toBe(1);
  expect(stored.bytes).toBeGreaterThan(8_000);
  expect(stored.bytes).toBeLessThan(2 * 8_000);
  // Every endpoint got exactly that body; the deliveries carry none of their own.
  expect(new Set(bodies)).toEqual(new Set([stored.body]));
  const { rows: deliveryBytes } = await sql<{ n: number; bytes: number }>`
    SELECT count(*)::int AS n, sum(pg_column_size(d.*))::int AS bytes FROM webhook_deliveries d WHERE run_id = ${run.id}`.execute(stack.db);
  expect(deliveryBytes[0]?.n).toBe(5);
  expect(deliveryBytes[0]?.bytes).toBeLessThan(5 * 1_000);

  for (let i = 0; i < 50; i++) {
    const pending = await stack.db.selectFrom('webhook_deliveries').select('id').where('run_id', '=', run.id).where('status', '=', 'pending').execute();
    if (pending.length === 0) break;
    await sleep(100);
  }
  await sql`UPDATE runs SET completed_at = now() - interval '40 days' WHERE id = ${run.id}`.execute(stack.db);
  const purged = await purgeFinishedBatch(stack.db, new Date(Date.now() - 30 * 86_400_000), 100);
  expect(purged.deliveries).toBeGreaterThanOrEqual(5);
  const left = await sql<{ n: number }>`SELECT count(*)::int AS n FROM webhook_payloads WHERE run_id = ${run.id}`.execute(stack.db);
  expect(left.rows[0]?.n).toBe(0);
});

describe('the dispatcher (its worker stopped: the passes below are the only ones)', () => {
  beforeAll(() => stack.stopWorker());
  afterAll(() => stack.startWorker());

  /** `n` waiting deliveries of a fresh account, straight into the tables. */
  async function backlog(n: number): Promise<string> {
    const account = await createAccount(stack, 10);
    const endpoint = `wh_fair_${account.id}`;
    await sql`INSERT INTO webhook_endpoints (id, account_id, url, events, secret_box)
      VALUES (${endpoint}, ${account.id}, 'http://127.0.0.1:9/none', ARRAY['run.succeeded'], '{}'::jsonb)`.execute(stack.db);
    await sql`INSERT INTO webhook_payloads (run_id, event_type, account_id, body)
      SELECT ${account.id} || '_run_' || g, 'run.succeeded', ${account.id}, '{}' FROM generate_series(1, ${n}) g`.execute(stack.db);
    await sql`INSERT INTO webhook_deliveries (id, webhook_id, account_id, run_id, event_type, next_attempt_at)
      SELECT ${account.id} || '_msg_' || g, ${endpoint}, ${account.id}, ${account.id} || '_run_' || g, 'run.succeeded', now()
      FROM generate_series(1, ${n}) g ORDER BY g`.execute(stack.db);
    return account.id;
  }
  const limits = { batch: 50, maxInFlightPerAccount: CAP, staleAfterMs: 7_200_000 };
  const LEASE_MS = 30_000;
  /** What a claim would take, rolled back. */
  async function wouldStart(): Promise<DispatchItem[]> {
    let items: DispatchItem[] = [];
    await expect(
      stack.db.transaction().execute(async (trx) => {
        const claimed = await claimDueDeliveriesIn(trx, limits, LEASE_MS);
        items = claimed === 'busy' ? [] : claimed.map((c) => c.item);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    return items;
  }

  test("each account's oldest first, whatever another account's backlog; an account at its cap gets none", async () => {
    const big = await backlog(20_000);
    const small = await backlog(3);
    const single = await backlog(1);
    const items = await wouldStart();
    const of = (id: string) => items.filter((i) => i.accountId === id).length;
    expect({ big: of(big), small: of(small), single: of(single) }).toEqual({ big: CAP, small: 3, single: 1 });
    // Round-robin: every account's first before anyone's second.
    const firsts = new Set(items.slice(0, 3).map((i) => i.accountId));
    expect(firsts).toEqual(new Set([big, small, single]));
    await sql`DELETE FROM webhook_deliveries WHERE account_id IN (${big}, ${small}, ${single})`.execute(stack.db);
  });

  test("an account's slots go first to its endpoints with the fewest in flight; a parked delivery holds none and starts at its next attempt when due", async () => {
    const account = await backlog(0);
    const endpoint = (name: string) =>
      sql`INSERT INTO webhook_endpoints (id, account_id, url, events, secret_box)
        VALUES (${name}, ${account}, 'http://127.0.0.1:9/none', ARRAY['run.succeeded'], '{}'::jsonb)`.execute(stack.db);
    await endpoint(`${account}_dead`);
    await endpoint(`${account}_healthy`);
    /** Deliveries g in [from, to] of an endpoint, straight into the table, in the given state. */
    const deliveries = async (hook: string, from: number, to: number, state: RawBuilder<unknown>) => {
      await sql`INSERT INTO webhook_payloads (run_id, event_type, account_id, body)
        SELECT ${hook} || '_run_' || g, 'run.succeeded', ${account}, '{}' FROM generate_series(${from}::int, ${to}::int) g`.execute(stack.db);
      await sql`INSERT INTO webhook_deliveries (id, webhook_id, account_id, run_id, event_type, dispatched_generation, parked_attempt, next_attempt_at, attempts)
        SELECT ${hook} || '_msg_' || g, ${hook}, ${account}, ${hook} || '_run_' || g, 'run.succeeded', ${state}
        FROM generate_series(${from}::int, ${to}::int) g ORDER BY g`.execute(stack.db);
    };
    const dead = `${account}_dead`;
    // The dead endpoint: 2 attempting, 30 parked (of which 20 not due for hours), 5 new ones
    // queued before the healthy endpoint's; the healthy endpoint: 2 new ones.
    await deliveries(dead, 1, 2, sql`1, NULL, now(), 1`);
    await deliveries(dead, 3, 12, sql`1, 3, now() - interval '1 minute', 2`);
    await deliveries(dead, 13, 32, sql`1, 3, now() + interval '5 hours', 2`);
    await deliveries(dead, 33, 37, sql`0, NULL, now() - interval '30 seconds', 0`);
    await deliveries(`${account}_healthy`, 1, 2, sql`0, NULL, now(), 0`);
    expect(await inFlight(account)).toBe(2);

    const items = await wouldStart();
    // Room for CAP - 2 = 8: the healthy endpoint's two first, then the dead one's oldest due (parked, at attempt 3).
    expect(items).toHaveLength(CAP - 2);
    expect(items.slice(0, 2).map((i) => i.id)).toEqual([`${account}_healthy_msg_1`, `${account}_healthy_msg_2`]);
    expect(items.slice(2).every((i) => i.id.startsWith(`${dead}_msg_`) && Number(i.id.split('_').at(-1)) <= 12 && i.attempt === 3)).toBe(true);
    // Started for real: the parked ones are in flight again, the ones not due are still parked.
    await claimDueDeliveries(stack.db, limits, LEASE_MS);
    expect(await inFlight(account)).toBe(CAP);
    const { rows } = await sql<{ parked: number; due: number }>`
      SELECT count(*) FILTER (WHERE parked_attempt IS NOT NULL)::int AS parked,
             count(*) FILTER (WHERE parked_attempt IS NOT NULL AND next_attempt_at <= now())::int AS due
      FROM webhook_deliveries WHERE account_id = ${account}`.execute(stack.db);
    expect(rows[0]).toEqual({ parked: 20 + 4, due: 4 });
    // A started continuation (attempt 3) ignores a late record of attempt 2 (a workflow that lost
    // its attempt's answer reports it after the next one began): each attempt counts once.
    const continued = items[2]?.id as string;
    const lateRecord = { deliveryId: continued, generation: 1, status: 'pending' as const, statusCode: null, error: 'lost', nextAttemptAt: new Date(Date.now() + 60_000) };
    expect(await recordDeliveryAttempt(stack.db, { ...lateRecord, attempt: 2, parkedAttempt: 3 })).toBe(false);
    expect(await recordDeliveryAttempt(stack.db, { ...lateRecord, attempt: 3, parkedAttempt: 4 })).toBe(true);
    expect(await stack.db.selectFrom('webhook_deliveries').select(['attempts', 'parked_attempt']).where('id', '=', continued).executeTakeFirst()).toEqual({
      attempts: 3,
      parked_attempt: 4,
    });
    await sql`DELETE FROM webhook_deliveries WHERE account_id = ${account}`.execute(stack.db);
  });

  /** A relay of the webhook outbox whose starts take `start`. */
  const relay = (start: (item: DispatchItem) => Promise<void>, deadlineMs = 3_600_000) =>
    new Outbox<DispatchItem>({
      store: deliveryStore(stack.db, limits),
      start,
      describe: (item) => ({ deliveryId: item.id }),
      settings: { inFlight: 50, pollMs: 60_000, deadlineMs },
      logger: createLogger('test', 'silent'),
      batch: limits.batch,
    });
  const deliveryOf = (id: string) => stack.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  test('two relays at once never start more than the cap of one account', async () => {
    const account = await backlog(3 * CAP);
    // As a slow Temporal would: both relays' starts overlap.
    const relays = [relay(() => sleep(300)), relay(() => sleep(300))];
    await Promise.all(relays.map((r) => r.relayOnce()));
    await Promise.all(relays.map((r) => r.relayOnce()));
    expect(await inFlight(account)).toBe(CAP);
    await sql`DELETE FROM webhook_deliveries WHERE account_id = ${account}`.execute(stack.db);
  });

  test('a relay holds no row lock while it starts; a failed start is backed off, and a delivery never started is recorded failed at its deadline', async () => {
    const account = await backlog(1);
    const id = `${account}_msg_1`;
    const lockable: boolean[] = [];
    const down = relay(async () => {
      // Another transaction can take the row at once: the claim has committed.
      const probe = await stack.pool.query(`SELECT id FROM webhook_deliveries WHERE id = $1 FOR UPDATE NOWAIT`, [id]).then(
        () => true,
        () => false,
      );
      lockable.push(probe);
      throw new Error('Temporal is down');
    }, 1_000);
    expect(await down.relayOnce()).toBe(1);
    expect(lockable).toEqual([true]);
    // Handed back: ready again after its back-off, not in flight meanwhile.
    let row = await deliveryOf(id);
    expect(row).toMatchObject({ status: 'pending', dispatched_generation: 0, start_lease_until: null, start_failures: 1 });
    expect(row.next_attempt_at?.getTime()).toBeGreaterThan(Date.now() + 1_000);
    expect(row.start_failing_since).not.toBeNull();
    expect(await inFlight(account)).toBe(0);
    expect(await down.relayOnce()).toBe(0);
    // Its back-off and the deadline have passed: the terminal callback records it failed, with no start.
    await sql`UPDATE webhook_deliveries SET next_attempt_at = now(), start_failing_since = now() - interval '2 seconds' WHERE id = ${id}`.execute(stack.db);
    expect(await down.relayOnce()).toBe(1);
    expect(lockable).toHaveLength(1);
    row = await deliveryOf(id);
    expect(row).toMatchObject({ status: 'failed', last_error: 'the delivery could not be started in time', start_lease_until: null, next_attempt_at: null });
    expect(await inFlight(account)).toBe(0);
    await sql`DELETE FROM webhook_deliveries WHERE account_id = ${account}`.execute(stack.db);
  });

  test('a claim whose relay died before confirming is started again, as the same attempt, once its lease ends', async () => {
    const account = await backlog(1);
    const id = `${account}_msg_1`;
    const died = await claimDueDeliveries(stack.db, limits, 1_500);
    expect(died !== 'busy' && died.map((c) => c.item.id)).toEqual([id]);
    expect(await inFlight(account)).toBe(1);
    const started: DispatchItem[] = [];
    const alive = relay(async (item) => void started.push(item));
    expect(await alive.relayOnce()).toBe(0); // still leased
    await sleep(1_600);
    expect(await alive.relayOnce()).toBe(1);
    expect(started).toEqual([{ id, generation: 1, accountId: account, attempt: 1 }]);
    expect(await deliveryOf(id)).toMatchObject({ dispatched_generation: 1, start_lease_until: null, start_failures: 0, start_failing_since: null });
    expect(await inFlight(account)).toBe(1);
    await sql`DELETE FROM webhook_deliveries WHERE account_id = ${account}`.execute(stack.db);
  });
});

test('a receiver that accepts the connection but never completes the TLS handshake is given up at the connect timeout', async () => {
  const began = Date.now();
  const result = await sendWebhook(
    { url: `https://127.0.0.1:${tarpit.port}/handshake`, headers: {}, body: '{}' },
    { allowPrivate: true, timeoutMs: 8_000, connectTimeoutMs: 300 },
  );
  expect(result).toEqual({ kind: 'error', message: 'no connection within 300 ms' });
  expect(Date.now() - began).toBeLessThan(4_000);
});

test("a failed attempt's error names the endpoint's host, never the address it resolved to", async () => {
  const closed = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const result = await sendWebhook({ url: `http://localhost:${closed}/hook`, headers: {}, body: '{}' }, { allowPrivate: true, timeoutMs: 5_000 });
  expect(result).toEqual({ kind: 'error', message: `ECONNREFUSED: connect to localhost:${closed} failed` });
});

test('defaults: own queue derived from the run queue, 50 slots, 10 in flight per account, connect 3 s', () => {
  const { webhooks } = loadConfig({ PATH: process.env.PATH });
  expect(webhooks).toMatchObject({ taskQueue: 'runway-webhooks', concurrency: 50, maxInFlightPerAccount: 10, connectTimeoutMs: 3_000, timeoutMs: 10_000, parkAfterMs: 60_000 });
  expect(loadConfig({ PATH: process.env.PATH, RUNWAY_TASK_QUEUE: 'q1' }).webhooks.taskQueue).toBe('q1-webhooks');
  expect(loadConfig({ PATH: process.env.PATH, RUNWAY_WEBHOOK_TASK_QUEUE: 'hooks' }).webhooks.taskQueue).toBe('hooks');
  // The connection's bound never exceeds the attempt's.
  expect(loadConfig({ PATH: process.env.PATH, RUNWAY_WEBHOOK_TIMEOUT_MS: '1000' }).webhooks.connectTimeoutMs).toBe(1_000);
});
