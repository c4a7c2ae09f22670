import { sql, type Transaction } from 'kysely';
import type { Db } from './database';
import { encodeHeadNotice, encodeVolatileNotice, RUN_EVENTS_CHANNEL, RUN_VOLATILE_CHANNEL } from './notify-wire';
import type { Database, RunEventRow } from './schema';
import { safeJson } from '../text';

// The channels and their payloads are defined in ./notify-wire (kept importable from here).
export { RUN_EVENTS_CHANNEL, RUN_VOLATILE_CHANNEL };

export type RunEventType = 'status' | 'progress' | 'delta' | 'log' | 'usage' | 'error' | 'end' | 'reset' | 'request.completed' | 'session.closed';

export interface NewRunEvent {
  type: RunEventType;
  data: Record<string, unknown>;
}

/**
 * Appends events with the next gapless ids of the run. Must run inside the caller's transaction:
 * the counter row lock orders concurrent writers and the NOTIFY is delivered only on commit.
 */
export async function appendRunEvents(
  trx: Transaction<Database>,
  runId: string,
  events: NewRunEvent[],
): Promise<number> {
  return appendStreamEvents(trx, 'runs', runId, events);
}

/**
 * The same for any stream of the log: a run's, or a session's own (whose gapless counter is
 * `sessions.last_event_id`).
 */
export async function appendStreamEvents(
  trx: Transaction<Database>,
  counter: 'runs' | 'sessions',
  streamId: string,
  events: NewRunEvent[],
): Promise<number> {
  if (events.length === 0) return 0;
  const row = await trx
    .updateTable(counter)
    .set({ last_event_id: sql`last_event_id + ${events.length}` })
    .where('id', '=', streamId)
    .returning('last_event_id')
    .executeTakeFirstOrThrow();
  const last = Number(row.last_event_id);
  const first = last - events.length + 1;
  await trx
    .insertInto('run_events')
    // Event data carries tenant and model text (progress messages, setup output, errors): never
    // let a NUL or a lone surrogate in it refuse the whole transaction.
    .values(events.map((e, i) => ({ run_id: streamId, id: first + i, type: e.type, data: safeJson(e.data) })))
    .execute();
  await sql`SELECT pg_notify(${RUN_EVENTS_CHANNEL}, ${encodeHeadNotice(streamId, last)})`.execute(trx);
  return last;
}

export async function appendRunEventsNow(db: Db, runId: string, events: NewRunEvent[]): Promise<number> {
  return db.transaction().execute((trx) => appendRunEvents(trx, runId, events));
}

/** Persisted events after `afterId`, oldest first. */
export async function listRunEvents(db: Db, runId: string, afterId: number, limit: number): Promise<RunEventRow[]> {
  return db
    .selectFrom('run_events')
    .selectAll()
    .where('run_id', '=', runId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function publishVolatileEvent(db: Db, runId: string, event: NewRunEvent): Promise<void> {
  // NOTIFY payloads are limited to 8000 bytes; volatile events are small progress ticks.
  const payload = encodeVolatileNotice(runId, event);
  if (payload === null) return;
  await sql`SELECT pg_notify(${RUN_VOLATILE_CHANNEL}, ${payload})`.execute(db);
}

/**
 * New events of many streams in one query: for each (stream, after) the next `limit` events,
 * oldest first. One round trip however many runs were notified together.
 */
export async function listEventsOfMany(
  db: Db,
  cursors: { runId: string; after: number }[],
  limit: number,
): Promise<RunEventRow[]> {
  if (cursors.length === 0) return [];
  const result = await sql<RunEventRow>`
    SELECT e.*
      FROM unnest(${cursors.map((c) => c.runId)}::text[], ${cursors.map((c) => c.after)}::bigint[]) AS c(run_id, after)
      CROSS JOIN LATERAL (
        SELECT * FROM run_events e WHERE e.run_id = c.run_id AND e.id > c.after ORDER BY e.id LIMIT ${limit}
      ) e
     ORDER BY e.run_id, e.id`.execute(db);
  return result.rows;
}
