import { sql, type Expression, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema';
import type { Usage } from '../pricing';

/**
 * The output of a run's current attempt, from its event log: the text of its `delta` events after
 * its last `reset` or, in an agent run, the start of its last model turn (the run's output is the
 * final answer; earlier turns' text stays in their steps), as an SQL expression of the run's id.
 * A running run's output lives only there (the batcher appends events, never rewrites a growing
 * text column, which would copy the whole output at every batch); settling copies it to
 * `runs.output` once, in its own UPDATE.
 */
export function outputOfRunSql(runId: Expression<string> | string) {
  const id = typeof runId === 'string' ? sql`${runId}` : runId;
  return sql<string>`COALESCE((
    SELECT string_agg(e.data->>'text', '' ORDER BY e.id) FROM run_events e
     WHERE e.run_id = ${id} AND e.type = 'delta'
       AND e.id > COALESCE((SELECT max(r.id) FROM run_events r WHERE r.run_id = ${id} AND (r.type = 'reset' OR (r.type = 'step' AND r.data->>'kind' = 'model'))), 0)
  ), '')`;
}

/** The current output of each of these runs (one query for all of them). */
export async function liveOutputs(db: Kysely<Database>, runIds: string[]): Promise<Map<string, string>> {
  if (runIds.length === 0) return new Map();
  const { rows } = await sql<{ run_id: string; output: string }>`
    SELECT u.id AS run_id, ${outputOfRunSql(sql.ref('u.id'))} AS output
      FROM unnest(${runIds}::text[]) AS u(id)`.execute(db);
  return new Map(rows.map((r) => [r.run_id, r.output]));
}

/** Fills in the output of the runs that are not settled yet (settled runs carry their own). */
export async function withLiveOutput<R extends { id: string; output: string; charged: number | null }>(
  db: Kysely<Database>,
  rows: R[],
): Promise<R[]> {
  const live = rows.filter((r) => r.charged === null);
  if (live.length === 0) return rows;
  const outputs = await liveOutputs(db, live.map((r) => r.id));
  return rows.map((r) => (r.charged === null ? { ...r, output: outputs.get(r.id) ?? '' } : r));
}

/**
 * Records a new execution attempt: its number and the run's usage before it (an agent run's
 * earlier turns; nothing for a plain run), which the attempt's own usage is added to.
 */
export async function setRunAttempt(trx: Transaction<Database>, runId: string, attempt: number, usage: Usage): Promise<void> {
  await trx
    .updateTable('runs')
    .set({ attempt, input_tokens: usage.inputTokens, output_tokens: usage.outputTokens })
    .where('id', '=', runId)
    .executeTakeFirstOrThrow();
}
