import { sql, type Transaction } from 'kysely';
import type { Db } from './database';
import { encodeHeadNotice, encodeVolatileNotice, RUN_EVENTS_CHANNEL, RUN_VOLATILE_CHANNEL } from './notify-wire';
import type { Database, RunEventRow } from './schema';
import { safeJson } from '../text';

// The channels and their payloads are defined in ./notify-wire (kept importable from here).
export { RUN_EVENTS_CHANNEL, RUN_VOLATILE_CHANNEL };

export type RunEventType = 'status' | 'progress' | 'delta' | 'log' | 'usage' | 'error' | 'end' | 'reset' | 'step' | 'tool_call' | 'tool_result' | 'request.completed' | 'session.closed';

export interface NewRunEvent {
  type: RunEventType;
  data: Record<string, unknown>;
}

/**
 * A stream of the event log: a run's, or a session's own. Both live in `run_events` under their
 * id; each has its gapless counter on its own row (`runs.last_event_id`, `sessions.last_event_id`).
 */
export interface EventStream {
  counter: 'runs' | 'sessions';
  id: string;
}
export const runStream = (id: string): EventStream => ({ counter: 'runs', id });
export const sessionStream = (id: string): EventStream => ({ counter: 'sessions', id });

/**
 * Appends events with the stream's next gapless ids. Runs inside the caller's transaction: the
 * counter row lock orders concurrent writers and the NOTIFY is delivered only on commit.
 */
export async function appendEvents(trx: Transaction<Database>, stream: EventStream, events: NewRunEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const row = await trx
    .updateTable(stream.counter)
    .set({ last_event_id: sql`last_event_id + ${events.length}` })
    .where('id', '=', stream.id)
    .returning('last_event_id')
    .executeTakeFirstOrThrow();
  const last = Number(row.last_event_id);
  const first = last - events.length + 1;
  await trx
    .insertInto('run_events')
    // Event data carries tenant and model text (progress messages, setup output, errors): never
    // let a NUL or a lone surrogate in it refuse the whole transaction.
    .values(events.map((e, i) => ({ run_id: stream.id, id: first + i, type: e.type, data: safeJson(e.data) })))
    .execute();
  await sql`SELECT pg_notify(${RUN_EVENTS_CHANNEL}, ${encodeHeadNotice(stream.id, last)})`.execute(trx);
  return last;
}

/** The same in a transaction of its own. */
export async function appendEventsNow(db: Db, stream: EventStream, events: NewRunEvent[]): Promise<number> {
  return db.transaction().execute((trx) => appendEvents(trx, stream, events));
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
