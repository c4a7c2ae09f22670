import { sql, type Transaction } from 'kysely';
import type { Db } from './database';
import { appendEvents, runStream, type NewRunEvent } from './run-events';
import type { Database, RunStepsTable } from './schema';
import type { Selectable } from 'kysely';
import type { McpListing, ModelStepData, ToolOutcome, ToolStepData } from '../tools/types';
import { safeJson, truncate } from '../text';

export type RunStepRow = Selectable<RunStepsTable>;

/**
 * An agent run's transcript, one row per step. Each step is begun once (its `step` event and,
 * for a tool, its `tool_call` event are appended with the row, so a retried activity repeats
 * neither) and finished once (a tool's result is written once, with its `tool_result` event
 * and its cost): what a retry or a replay finds finished it returns instead of doing again.
 */
async function beginStep(
  trx: Transaction<Database>,
  runId: string,
  index: number,
  kind: 'model' | 'tool',
  data: ModelStepData | ToolStepData,
  events: NewRunEvent[],
): Promise<RunStepRow> {
  const inserted = await trx
    .insertInto('run_steps')
    .values({ run_id: runId, index, kind, data: safeJson(data) })
    .onConflict((oc) => oc.columns(['run_id', 'index']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!inserted) {
    return trx.selectFrom('run_steps').selectAll().where('run_id', '=', runId).where('index', '=', index).executeTakeFirstOrThrow();
  }
  await trx.updateTable('runs').set({ step_count: sql`greatest(step_count, ${index + 1})` }).where('id', '=', runId).execute();
  await appendEvents(trx, runStream(runId), [{ type: 'step', data: { index, kind } }, ...events]);
  return inserted;
}

/** A model turn begins (once; a retried turn finds its row). */
export async function beginModelStep(db: Db, runId: string, index: number, attempt: number): Promise<void> {
  await db.transaction().execute((trx) => beginModelStepIn(trx, runId, index, attempt));
}

/** The same in the caller's transaction (the turn's attempt begins in it). */
export async function beginModelStepIn(trx: Transaction<Database>, runId: string, index: number, attempt: number): Promise<void> {
  const data: ModelStepData = { text: '', toolCalls: [], usage: { inputTokens: 0, outputTokens: 0 }, cost: 0, attempt };
  await beginStep(trx, runId, index, 'model', data, []);
}

/** A model turn ended: its text, the calls it asked for, its usage and what it added to the bill. */
export async function finishModelStep(db: Db, runId: string, index: number, data: ModelStepData): Promise<void> {
  await db
    .updateTable('run_steps')
    .set({ data: safeJson(data), finished_at: new Date() })
    .where('run_id', '=', runId)
    .where('index', '=', index)
    .execute();
}

/** A `tool_call` event's arguments at most (a model may send up to 1 MiB): the step has them whole. */
const EVENT_ARGUMENTS_CHARS = 16 * 1024;

/** A tool call begins (once): its row, and `step` and `tool_call` events. The row tells whether it already finished. */
export async function beginToolStep(db: Db, runId: string, index: number, data: ToolStepData): Promise<RunStepRow> {
  const cut = data.arguments.length > EVENT_ARGUMENTS_CHARS;
  const call = { callId: data.callId, name: data.name, arguments: cut ? truncate(data.arguments, EVENT_ARGUMENTS_CHARS) : data.arguments, ...(cut ? { argumentsTruncated: true } : {}) };
  return db.transaction().execute((trx) => beginStep(trx, runId, index, 'tool', data, [{ type: 'tool_call', data: call }]));
}

/**
 * A tool call's outcome, recorded once: the first writer wins (a retry that raced a slow
 * attempt's write does not record a second result or bill twice). Returns the recorded data.
 */
export async function finishToolStep(
  db: Db,
  runId: string,
  index: number,
  outcome: ToolOutcome & { durationMs: number; cost: number },
): Promise<ToolStepData> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('run_steps')
      .selectAll()
      .where('run_id', '=', runId)
      .where('index', '=', index)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const data = row.data as ToolStepData;
    if (row.finished_at) return data;
    const finished: ToolStepData = {
      ...data,
      result: outcome.result,
      truncated: outcome.truncated,
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      durationMs: outcome.durationMs,
      sandboxMs: outcome.sandboxMs,
      cost: outcome.cost,
    };
    await trx
      .updateTable('run_steps')
      .set({ data: safeJson(finished), finished_at: new Date() })
      .where('run_id', '=', runId)
      .where('index', '=', index)
      .execute();
    if (outcome.cost > 0) await trx.updateTable('runs').set({ tool_cost: sql`tool_cost + ${outcome.cost}` }).where('id', '=', runId).execute();
    const event = { callId: data.callId, result: outcome.result, truncated: outcome.truncated, ...(outcome.error !== undefined ? { error: outcome.error } : {}) };
    await appendEvents(trx, runStream(runId), [{ type: 'tool_result', data: event }]);
    return finished;
  });
}

export async function getRunStep(db: Db, runId: string, index: number): Promise<RunStepRow | undefined> {
  return db.selectFrom('run_steps').selectAll().where('run_id', '=', runId).where('index', '=', index).executeTakeFirst();
}

/** Steps after `afterIndex`, oldest first (the API's pages, the model's transcript). */
export async function listRunSteps(db: Db, runId: string, afterIndex: number, limit: number): Promise<RunStepRow[]> {
  return db
    .selectFrom('run_steps')
    .selectAll()
    .where('run_id', '=', runId)
    .where('index', '>', afterIndex)
    .orderBy('index')
    .limit(limit)
    .execute();
}

/** The finished steps before `beforeIndex`: the conversation a model turn continues. */
export async function finishedStepsBefore(db: Db, runId: string, beforeIndex: number): Promise<RunStepRow[]> {
  return db
    .selectFrom('run_steps')
    .selectAll()
    .where('run_id', '=', runId)
    .where('index', '<', beforeIndex)
    .where('finished_at', 'is not', null)
    .orderBy('index')
    .execute();
}

/** Records the MCP tool list once; a second listing (a retried step) keeps the first. Returns the stored one. */
export async function recordMcpListing(db: Db, runId: string, listing: McpListing): Promise<McpListing> {
  await db.updateTable('runs').set({ mcp_tools: safeJson(listing) }).where('id', '=', runId).where('mcp_tools', 'is', null).execute();
  const row = await db.selectFrom('runs').select('mcp_tools').where('id', '=', runId).executeTakeFirstOrThrow();
  return row.mcp_tools as McpListing;
}
