import { sql, type Transaction } from 'kysely';
import { RUN_EVENTS_CHANNEL } from './run-events';
import type { Database } from './schema';

/**
 * The three statements of the output batcher's transaction (src/streams/output-batcher.ts), one
 * per window for all runs at once. A hot path (see bench/): each takes its arguments as columns
 * so that many runs cost one statement, not one each.
 */

/** Usage and event counts of the window's runs, one entry per run at the same index. */
export interface RunHeadColumns {
  ids: string[];
  inputTokens: number[];
  outputTokens: number[];
  /** How many events each run gains in this window. */
  eventCounts: number[];
}

/**
 * Sets each run's usage and advances its gapless event counter by its count; returns the new
 * last event id of every run that exists. The row locks order concurrent writers of a run.
 */
export async function advanceRunHeads(
  trx: Transaction<Database>,
  c: RunHeadColumns,
): Promise<{ id: string; last_event_id: string | number }[]> {
  const heads = await sql<{ id: string; last_event_id: string | number }>`
        UPDATE runs AS r
           SET input_tokens = v.input_tokens,
               output_tokens = v.output_tokens,
               last_event_id = r.last_event_id + v.n
          FROM unnest(${c.ids}::text[],
                      ${c.inputTokens}::int[], ${c.outputTokens}::int[],
                      ${c.eventCounts}::int[])
               AS v(id, input_tokens, output_tokens, n)
         WHERE r.id = v.id
     RETURNING r.id, r.last_event_id`.execute(trx);
  return heads.rows;
}

/** Event rows with ids already taken from advanceRunHeads; `data` is serialized JSON. */
export async function insertRunEventRows(
  trx: Transaction<Database>,
  rows: { run_id: string; id: number; type: string; data: string }[],
): Promise<void> {
  await trx.insertInto('run_events').values(rows).execute();
}

/** One NOTIFY per payload on the run events channel, in one statement; delivered on commit. */
export async function notifyRunEventPayloads(trx: Transaction<Database>, payloads: string[]): Promise<void> {
  await sql`SELECT pg_notify(${RUN_EVENTS_CHANNEL}, n) FROM unnest(${payloads}::text[]) AS n`.execute(trx);
}
