import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Db } from './database';
import type {
  Database,
  SealedBox,
  WebhookDeliveryRow,
  WebhookDeliveryStatus,
  WebhookEndpointRow,
  WebhookEventType,
} from './schema';
import { newId } from '../ids';
import { eventTypeOf, RUN_EVENT_COLUMNS, runEventBody } from './webhook-payload';
import { isTerminal } from '../../workflows/run-vocabulary';

/** NOTIFY channel: deliveries are waiting for their workflow (payload empty; the table is the truth). */
export const WEBHOOK_DELIVERY_CHANNEL = 'runway_webhook_delivery';

export interface NewWebhookEndpoint {
  id: string;
  accountId: string;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  secretBox: SealedBox;
}

/**
 * Inserts the endpoint unless its account already has `maxEndpoints` (then undefined). The
 * account row is locked first, so concurrent registrations cannot pass the cap.
 */
export async function insertWebhookWithinCap(db: Db, w: NewWebhookEndpoint, maxEndpoints: number): Promise<WebhookEndpointRow | undefined> {
  return db.transaction().execute(async (trx) => {
    await trx.selectFrom('accounts').select('id').where('id', '=', w.accountId).forUpdate().executeTakeFirstOrThrow();
    const count = await trx
      .selectFrom('webhook_endpoints')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('account_id', '=', w.accountId)
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= maxEndpoints) return undefined;
    return trx
      .insertInto('webhook_endpoints')
      .values({
        id: w.id,
        account_id: w.accountId,
        url: w.url,
        events: w.events,
        description: w.description,
        secret_box: JSON.stringify(w.secretBox),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

export async function getOwnedWebhook(db: Db, accountId: string, id: string): Promise<WebhookEndpointRow | undefined> {
  return db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
}

export async function listOwnedWebhooks(db: Db, accountId: string, q: { limit: number; beforeSeq?: number }): Promise<WebhookEndpointRow[]> {
  let query = db.selectFrom('webhook_endpoints').selectAll().where('account_id', '=', accountId);
  if (q.beforeSeq !== undefined) query = query.where('seq', '<', q.beforeSeq);
  return query.orderBy('seq', 'desc').limit(q.limit).execute();
}

export interface WebhookPatch {
  url?: string;
  events?: WebhookEventType[];
  description?: string | null;
  disabled?: boolean;
  secretBox?: SealedBox;
}

/** Changes the caller's endpoint; undefined when it is not theirs (or does not exist). */
export async function updateOwnedWebhook(db: Db, accountId: string, id: string, patch: WebhookPatch): Promise<WebhookEndpointRow | undefined> {
  return db
    .updateTable('webhook_endpoints')
    .set({
      ...(patch.url !== undefined ? { url: patch.url } : {}),
      ...(patch.events !== undefined ? { events: patch.events } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.disabled !== undefined ? { disabled: patch.disabled } : {}),
      ...(patch.secretBox !== undefined ? { secret_box: JSON.stringify(patch.secretBox) } : {}),
      updated_at: new Date(),
    })
    .where('id', '=', id)
    .where('account_id', '=', accountId)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes the caller's endpoint and its delivery log; false when it is not theirs. */
export async function deleteOwnedWebhook(db: Db, accountId: string, id: string): Promise<boolean> {
  const res = await db.deleteFrom('webhook_endpoints').where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export async function listOwnedDeliveries(
  db: Db,
  accountId: string,
  webhookId: string,
  q: { limit: number; beforeSeq?: number },
): Promise<WebhookDeliveryRow[]> {
  let query = db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('webhook_id', '=', webhookId)
    .where('account_id', '=', accountId);
  if (q.beforeSeq !== undefined) query = query.where('seq', '<', q.beforeSeq);
  return query.orderBy('seq', 'desc').limit(q.limit).execute();
}

/**
 * Asks for one more sending of the caller's delivery (same id, so the same `webhook-id`): a new
 * generation, which the dispatcher starts a workflow for; an older workflow still retrying it
 * stops at its next attempt. At most `maxRedeliveries` per delivery. `not-found` when the delivery
 * is not the caller's (or not under that endpoint).
 */
export async function requeueOwnedDelivery(
  db: Db,
  owner: { accountId: string; webhookId: string; deliveryId: string },
  maxRedeliveries: number,
): Promise<WebhookDeliveryRow | 'not-found' | 'limit'> {
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('webhook_deliveries')
      .select('generation')
      .where('id', '=', owner.deliveryId)
      .where('webhook_id', '=', owner.webhookId)
      .where('account_id', '=', owner.accountId)
      .forUpdate()
      .executeTakeFirst();
    if (!current) return 'not-found';
    if (current.generation > maxRedeliveries) return 'limit';
    const row = await trx
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        generation: eb('generation', '+', 1),
        status: 'pending',
        next_attempt_at: new Date(),
        // A new generation starts from its first attempt, whatever the previous one had parked.
        parked_attempt: null,
        delivered_at: null,
      }))
      .where('id', '=', owner.deliveryId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await sql`select pg_notify(${WEBHOOK_DELIVERY_CHANNEL}, '')`.execute(trx);
    return row;
  });
}

/**
 * Called by `settleRunRecord` inside its transaction, after the run row took its terminal status:
 * one delivery per enabled endpoint of the run's account subscribed to the event. The settle
 * transaction runs this once (a settled run returns early); the unique (webhook, run, event)
 * constraint guards it anyway. The NOTIFY is sent on commit, so the dispatcher never starts a
 * delivery that was rolled back.
 */
export async function createRunDeliveries(trx: Transaction<Database>, runId: string): Promise<number> {
  // One indexed query in the common case of an account without endpoints.
  const endpoints = await trx
    .selectFrom('webhook_endpoints as e')
    .innerJoin('runs as r', 'r.account_id', 'e.account_id')
    .select('e.id')
    .where('r.id', '=', runId)
    .where('e.disabled', '=', false)
    .where(sql<boolean>`'run.' || r.status = ANY(e.events)`)
    // An endpoint deleted concurrently waits for this commit (its deliveries then go with it),
    // instead of failing the settle with a foreign-key violation.
    .forKeyShare('e')
    .execute();
  if (endpoints.length === 0) return 0;
  const run = await trx.selectFrom('runs').select(RUN_EVENT_COLUMNS).where('id', '=', runId).executeTakeFirst();
  if (!run || !isTerminal(run.status)) return 0;
  const type = eventTypeOf(run.status);
  // One copy of the body per run and event, whatever the number of endpoints.
  await trx
    .insertInto('webhook_payloads')
    .values({ run_id: run.id, event_type: type, account_id: run.account_id, body: runEventBody(run, type, run.completed_at ?? new Date()) })
    .onConflict((oc) => oc.columns(['run_id', 'event_type']).doNothing())
    .execute();
  const inserted = await trx
    .insertInto('webhook_deliveries')
    .values(
      endpoints.map((e) => ({
        id: newId('msg'),
        webhook_id: e.id,
        account_id: run.account_id,
        run_id: run.id,
        event_type: type,
        next_attempt_at: new Date(),
      })),
    )
    .onConflict((oc) => oc.columns(['webhook_id', 'run_id', 'event_type']).doNothing())
    .returning('id')
    .execute();
  if (inserted.length > 0) await sql`select pg_notify(${WEBHOOK_DELIVERY_CHANNEL}, '')`.execute(trx);
  return inserted.length;
}

export interface DispatchItem {
  id: string;
  generation: number;
  accountId: string;
  /** The attempt its workflow starts with: 1 for a new generation, else the parked one. */
  attempt: number;
}

export interface DispatchLimits {
  /** Deliveries claimed at once. */
  batch: number;
  /** An account's deliveries started, pending and not parked, beyond which its others wait here. */
  maxInFlightPerAccount: number;
  /**
   * A started delivery whose attempt is overdue by more than this no longer counts as in flight
   * (its workflow ended without settling it: terminated, or its last record gave up), so it
   * cannot hold its account's slot forever.
   */
  staleAfterMs: number;
}

/**
 * A delivery waiting for a workflow: a new generation (from when it was queued), or a parked one
 * (from its next attempt's time); `next_attempt_at` orders both. The partial indexes of migration
 * 0013 have exactly this predicate.
 */
const READY = sql<boolean>`(dispatched_generation < generation OR parked_attempt IS NOT NULL)`;
/** Started, not settled, not parked: what holds a slot of the account's cap (stale ones aside). */
const inFlight = (alias: string) =>
  sql<boolean>`${sql.ref(`${alias}.status`)} = 'pending' AND ${sql.ref(`${alias}.dispatched_generation`)} = ${sql.ref(`${alias}.generation`)}
    AND ${sql.ref(`${alias}.parked_attempt`)} IS NULL`;

/**
 * Where an account's ready deliveries start, as a condition only the (account_id, next_attempt_at)
 * index can serve. With `account_id = x` instead, the planner may walk another index and filter
 * by account (it guesses the account's rows are everywhere), reading every other account's
 * backlog first: the work would grow with another tenant's backlog.
 */
const fromAccount = (account: RawBuilder<unknown> | string) => sql<boolean>`(account_id, next_attempt_at) >= (${account}, '-infinity'::timestamptz)`;

/** Serializes claims across processes, so no two claims both see room under one cap. */
const DISPATCH_LOCK = sql`hashtext('runway_webhook_dispatch')`;

/** A delivery claimed by a relay, marked in flight with a lease: its workflow is being started. */
export interface ClaimedDelivery {
  item: DispatchItem;
  /** Starts tried for this attempt so far, this one included. */
  starts: number;
  /** Since when its starts have been failing (null: this is its first start). */
  failingSince: Date | null;
}

/**
 * Claims deliveries that are due and have no workflow (a new generation, or a parked one whose
 * next attempt has come), and marks them in flight with a start lease, in one short transaction:
 * the caller starts their workflows after the commit, holding no lock, then confirms them
 * (`confirmDeliveryStarts`) or hands one back (`postponeDeliveryStart`). A claim whose relay died
 * before confirming comes back here when its lease ends, and is started again under the same
 * workflow id. Fair between accounts: an account gets a delivery started only while fewer than
 * `maxInFlightPerAccount` of its deliveries are in flight (started or being started, pending and
 * not parked: a delivery waiting for a retry holds no slot), and a claim takes each account's
 * first before anyone's second, so one account's backlog never queues another's first delivery
 * behind it. Fair between an account's endpoints: its slots go first to the endpoints with the
 * fewest deliveries in flight (each endpoint's own ones in order of due time), so due deliveries
 * to a healthy endpoint are not queued behind a failing endpoint's. Work per claim follows the
 * accounts with a backlog, their endpoints (at most RUNWAY_MAX_WEBHOOKS each) and the cap, never
 * the size of a backlog: the accounts are found by a skip scan of the ready index, and each
 * endpoint's due deliveries by its own index range. 'busy': another relay's claim is under way.
 */
export async function claimDueDeliveries(db: Db, limits: DispatchLimits, leaseMs: number): Promise<ClaimedDelivery[] | 'busy'> {
  return db.transaction().execute((trx) => claimDueDeliveriesIn(trx, limits, leaseMs));
}

/** `claimDueDeliveries` inside the caller's transaction (a test rolls it back to see what a claim would take). */
export async function claimDueDeliveriesIn(trx: Transaction<Database>, limits: DispatchLimits, leaseMs: number): Promise<ClaimedDelivery[] | 'busy'> {
  // Another process's claim is under way: waiting for it here would hold a pooled connection per
  // worker; the caller tries again shortly. Serialized, so no two claims both see room under one cap.
  const lock = await sql<{ got: boolean }>`SELECT pg_try_advisory_xact_lock(${DISPATCH_LOCK}) AS got`.execute(trx);
  if (!lock.rows[0]?.got) return 'busy';
  const now = new Date();
  const leaseUntil = new Date(now.getTime() + leaseMs);
  const unconfirmed = await reclaimUnconfirmed(trx, now, leaseUntil, limits.batch);
  const order = await pickDue(trx, now, limits);
  if (order.length === 0) return unconfirmed;
  // Locked and read again: a retry by hand may have raised the generation meanwhile.
  const locked = await trx
    .selectFrom('webhook_deliveries')
    .select(['id', 'generation', 'account_id', 'dispatched_generation', 'parked_attempt'])
    .where('id', 'in', order)
    .where(sql<boolean>`(dispatched_generation < generation OR (parked_attempt IS NOT NULL AND next_attempt_at <= ${now}))`)
    .forUpdate()
    .skipLocked()
    .execute();
  const byId = new Map(
    locked.map((r) => [
      r.id,
      { id: r.id, generation: r.generation, accountId: r.account_id, attempt: r.dispatched_generation < r.generation ? 1 : (r.parked_attempt as number) },
    ]),
  );
  const claimed: ClaimedDelivery[] = [];
  for (const item of order.flatMap((id) => byId.get(id) ?? [])) {
    // In flight from now on, so the next claim counts it against the cap; its attempts are due
    // from now (the time it waited here is not overdue).
    const row = await trx
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        dispatched_generation: item.generation,
        parked_attempt: null,
        started_attempt: item.attempt,
        next_attempt_at: now,
        start_lease_until: leaseUntil,
        start_failures: eb('start_failures', '+', 1),
      }))
      .where('id', '=', item.id)
      .returning(['start_failures', 'start_failing_since'])
      .executeTakeFirstOrThrow();
    claimed.push({ item, starts: row.start_failures, failingSince: row.start_failing_since });
  }
  return [...unconfirmed, ...claimed];
}

/** Up to `batch` ready deliveries, due now, in the order fairness gives them (see `claimDueDeliveries`). */
async function pickDue(trx: Transaction<Database>, now: Date, limits: DispatchLimits): Promise<string[]> {
  const staleBefore = new Date(now.getTime() - limits.staleAfterMs);
  const cap = limits.maxInFlightPerAccount;
  const picked = await sql<{ id: string }>`
    WITH RECURSIVE waiting(account_id) AS (
      (SELECT account_id FROM webhook_deliveries WHERE ${READY} ORDER BY account_id LIMIT 1)
      UNION ALL
      SELECT (SELECT d.account_id FROM webhook_deliveries d
              WHERE (d.dispatched_generation < d.generation OR d.parked_attempt IS NOT NULL) AND d.account_id > w.account_id
              ORDER BY d.account_id LIMIT 1)
      FROM waiting w WHERE w.account_id IS NOT NULL
    )
    SELECT next.id FROM waiting w
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS n FROM webhook_deliveries f
      WHERE f.account_id = w.account_id AND ${inFlight('f')} AND f.next_attempt_at > ${staleBefore}
    ) busy
    CROSS JOIN LATERAL (
      SELECT c.id, c.due, c.seq, row_number() OVER (ORDER BY c.load, c.due, c.seq) AS turn
      FROM webhook_endpoints e
      CROSS JOIN LATERAL (
        SELECT count(*)::int AS n FROM webhook_deliveries f
        WHERE f.webhook_id = e.id AND ${inFlight('f')} AND f.next_attempt_at > ${staleBefore}
      ) eb
      CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at AS due, d.seq, eb.n + row_number() OVER (ORDER BY d.next_attempt_at, d.seq) AS load
        FROM (
          SELECT id, next_attempt_at, seq FROM webhook_deliveries
          WHERE webhook_id = e.id AND ${READY} AND next_attempt_at <= ${now}
          ORDER BY next_attempt_at, seq LIMIT ${cap}
        ) d
      ) c
      WHERE e.account_id = w.account_id
    ) next
    WHERE w.account_id IS NOT NULL AND next.turn <= ${cap} - busy.n
    ORDER BY next.turn, next.due, next.seq
    LIMIT ${limits.batch}`.execute(trx);
  return picked.rows.map((r) => r.id);
}

/**
 * Claims again the deliveries whose relay marked them in flight and never confirmed their start
 * (it died, or lost the database) once their lease has ended; they already hold their slot. A
 * lease left on a delivery that has moved on (settled, parked, a new generation) is cleared.
 */
async function reclaimUnconfirmed(trx: Transaction<Database>, now: Date, leaseUntil: Date, batch: number): Promise<ClaimedDelivery[]> {
  const expired = sql<boolean>`start_lease_until <= ${now}`;
  const { rows } = await sql<{ id: string; generation: number; account_id: string; started_attempt: number; start_failures: number; start_failing_since: Date | null }>`
    UPDATE webhook_deliveries SET start_lease_until = ${leaseUntil}, start_failures = start_failures + 1
     WHERE id IN (
       SELECT id FROM webhook_deliveries WHERE ${expired} AND ${inFlight('webhook_deliveries')}
        ORDER BY start_lease_until LIMIT ${batch} FOR UPDATE SKIP LOCKED)
    RETURNING id, generation, account_id, started_attempt, start_failures, start_failing_since`.execute(trx);
  await sql`UPDATE webhook_deliveries SET start_lease_until = NULL
     WHERE ${expired} AND NOT (${inFlight('webhook_deliveries')})`.execute(trx);
  return rows.map((r) => ({
    item: { id: r.id, generation: r.generation, accountId: r.account_id, attempt: r.started_attempt },
    starts: r.start_failures,
    failingSince: r.start_failing_since,
  }));
}

/** Their workflows exist: the claims' leases end, and their start history with them. */
export async function confirmDeliveryStarts(db: Db, items: DispatchItem[]): Promise<void> {
  if (items.length === 0) return;
  await db
    .updateTable('webhook_deliveries')
    .set({ start_lease_until: null, start_failures: 0, start_failing_since: null })
    .where((eb) => eb.or(items.map((i) => eb.and([eb('id', '=', i.id), eb('generation', '=', i.generation), eb('started_attempt', '=', i.attempt)]))))
    .execute();
}

/**
 * A claimed delivery whose workflow could not be started: ready again (as a new generation, or
 * parked at its attempt) after `delayMs`, and no longer in flight meanwhile. Ignored when the
 * delivery has moved on since the claim (a retry by hand, or its workflow started after all and
 * recorded an attempt).
 */
export async function postponeDeliveryStart(db: Db, item: DispatchItem, delayMs: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({
      ...(item.attempt === 1 ? { dispatched_generation: item.generation - 1 } : { parked_attempt: item.attempt }),
      next_attempt_at: sql`now() + ${`${delayMs} milliseconds`}::interval`,
      start_lease_until: null,
      start_failing_since: sql`coalesce(start_failing_since, now())`,
    })
    .where('id', '=', item.id)
    .where('generation', '=', item.generation)
    .where('started_attempt', '=', item.attempt)
    .where(inFlight('webhook_deliveries'))
    .execute();
}

/** Wakes the dispatchers when a delivery of an account with due deliveries waiting for room has settled or parked. */
async function notifyIfWaiting(trx: Transaction<Database>, accountId: string): Promise<void> {
  const next = await trx
    .selectFrom('webhook_deliveries')
    .select(['account_id', 'next_attempt_at'])
    .where(READY)
    .where(fromAccount(accountId))
    .orderBy('account_id')
    .orderBy('next_attempt_at')
    .limit(1)
    .executeTakeFirst();
  if (next?.account_id === accountId && next.next_attempt_at !== null && next.next_attempt_at <= new Date()) {
    await sql`select pg_notify(${WEBHOOK_DELIVERY_CHANNEL}, '')`.execute(trx);
  }
}

export interface DeliveryTarget {
  delivery: WebhookDeliveryRow;
  endpoint: WebhookEndpointRow;
  /** The event's body, the run's one copy: the same bytes on every attempt. */
  body: string;
}

/** A delivery with its endpoint and body, as an attempt needs them; undefined once deleted. */
export async function getDeliveryTarget(db: Db, deliveryId: string): Promise<DeliveryTarget | undefined> {
  const delivery = await db.selectFrom('webhook_deliveries').selectAll().where('id', '=', deliveryId).executeTakeFirst();
  if (!delivery) return undefined;
  const endpoint = await db.selectFrom('webhook_endpoints').selectAll().where('id', '=', delivery.webhook_id).executeTakeFirst();
  const payload = await db
    .selectFrom('webhook_payloads')
    .select('body')
    .where('run_id', '=', delivery.run_id)
    .where('event_type', '=', delivery.event_type)
    .executeTakeFirst();
  return endpoint && payload ? { delivery, endpoint, body: payload.body } : undefined;
}

export interface AttemptRecord {
  deliveryId: string;
  generation: number;
  status: WebhookDeliveryStatus;
  statusCode: number | null;
  error: string | null;
  nextAttemptAt: Date | null;
  /** 410 Gone: the endpoint is disabled in the same transaction. */
  disableEndpoint?: boolean;
  /** The delivery is parked until `nextAttemptAt`, when this attempt is started by the dispatcher. */
  parkedAttempt?: number;
  /** The attempt recorded: ignored when the generation's current workflow started after it. */
  attempt?: number;
}

/** Records one attempt of the delivery's current generation while it is pending (an older generation's, or a settled one's, is ignored). */
export async function recordDeliveryAttempt(db: Db, a: AttemptRecord): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    let update = trx
      .updateTable('webhook_deliveries')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        status: a.status,
        last_status_code: a.statusCode,
        last_error: a.error,
        next_attempt_at: a.nextAttemptAt,
        ...(a.parkedAttempt !== undefined ? { parked_attempt: a.parkedAttempt } : {}),
        ...(a.status === 'delivered' ? { delivered_at: new Date() } : {}),
      }))
      .where('id', '=', a.deliveryId)
      .where('generation', '=', a.generation)
      .where('status', '=', 'pending')
      // A parked delivery's attempt is recorded only by the workflow started for it.
      .where('parked_attempt', 'is', null);
    if (a.attempt !== undefined) update = update.where('started_attempt', '<=', a.attempt);
    const row = await update.returning(['webhook_id', 'account_id']).executeTakeFirst();
    if (row && a.disableEndpoint) {
      await trx.updateTable('webhook_endpoints').set({ disabled: true, updated_at: new Date() }).where('id', '=', row.webhook_id).execute();
    }
    // Settled or parked: its slot is free for the account's next due delivery.
    if (row && (a.status !== 'pending' || a.parkedAttempt !== undefined)) await notifyIfWaiting(trx, row.account_id);
    return row !== undefined;
  });
}

/** Ends the delivery's current generation as failed (its schedule is used up, or its endpoint is disabled). */
export async function markDeliveryFailed(db: Db, deliveryId: string, generation: number, error?: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('webhook_deliveries')
      .set({ status: 'failed', next_attempt_at: null, parked_attempt: null, start_lease_until: null, ...(error !== undefined ? { last_error: error } : {}) })
      .where('id', '=', deliveryId)
      .where('generation', '=', generation)
      .where('status', '=', 'pending')
      .returning('account_id')
      .executeTakeFirst();
    if (row) await notifyIfWaiting(trx, row.account_id);
  });
}
