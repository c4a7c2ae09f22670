import { sql, type Transaction } from 'kysely';
import type { LogLimits } from '../config';
import type { Db } from './database';
import { appendEvents, appendEventsNow, runStream } from './run-events';
import type { Database } from './schema';

/**
 * Bounded log storage (migration 0011): a run stores log lines until its own bound or its
 * account's is reached, counted in the same transaction as the events. The account's count is
 * read without a lock, so concurrent writers of one account may each store one batch past its
 * bound; the run's own row is locked, so a run never passes its bound.
 */

export interface LogLine {
  stream: 'stdout' | 'stderr';
  line: string;
}

/** What a run's writer dropped: counted, never stored, reported once by `appendLogTruncated`. */
export interface DroppedLogs {
  lines: number;
  bytes: number;
  /** The bound that was reached first: the run's or its account's bytes, or a setup attempt's lines. */
  bound: 'run' | 'account' | 'lines';
  limit: number;
}

/**
 * What a line counts for: its UTF-8 bytes and its row's share (id, type, JSON, index entry),
 * so that a flood of empty lines is bounded too.
 */
export const LOG_LINE_OVERHEAD = 100;
export const logLineBytes = (l: LogLine) => Buffer.byteLength(l.line, 'utf8') + LOG_LINE_OVERHEAD;

interface Budget {
  accountId: string;
  runBytes: number;
  accountBytes: number;
}

/** Locks the runs' rows and reads what each run and its account have stored. */
export async function lockLogBudgets(trx: Transaction<Database>, runIds: string[]): Promise<Map<string, Budget>> {
  const rows = await sql<{ id: string; account_id: string; run_bytes: string; account_bytes: string }>`
    SELECT r.id, r.account_id, r.log_bytes AS run_bytes, coalesce(s.log_bytes, 0) AS account_bytes
      FROM runs r LEFT JOIN account_storage s ON s.account_id = r.account_id
     WHERE r.id = ANY(${runIds}::text[])
     ORDER BY r.id
       FOR UPDATE OF r`.execute(trx);
  return new Map(rows.rows.map((r) => [r.id, { accountId: r.account_id, runBytes: Number(r.run_bytes), accountBytes: Number(r.account_bytes) }]));
}

/**
 * The lines that fit the run's remaining room, in order; from the first that does not, every
 * later one is dropped (a log with holes in it would mislead more than a cut one).
 */
export function fitLogs<T extends LogLine>(lines: T[], budget: Budget, limits: LogLimits): { kept: T[]; keptBytes: number; dropped: DroppedLogs | null } {
  const runRoom = limits.perRunBytes - budget.runBytes;
  const accountRoom = limits.perAccountBytes - budget.accountBytes;
  const room = Math.min(runRoom, accountRoom);
  let keptBytes = 0;
  let i = 0;
  for (; i < lines.length; i++) {
    const size = logLineBytes(lines[i]!);
    if (keptBytes + size > room) break;
    keptBytes += size;
  }
  if (i === lines.length) return { kept: lines, keptBytes, dropped: null };
  const rest = lines.slice(i);
  const byRun = runRoom <= accountRoom;
  const dropped: DroppedLogs = {
    lines: rest.length,
    bytes: rest.reduce((n, l) => n + logLineBytes(l), 0),
    bound: byRun ? 'run' : 'account',
    limit: byRun ? limits.perRunBytes : limits.perAccountBytes,
  };
  return { kept: lines.slice(0, i), keptBytes, dropped };
}

/** Counts stored log bytes on their runs and accounts (accounts in one order: no deadlock between writers). */
export async function addLogBytes(trx: Transaction<Database>, stored: { runId: string; accountId: string; bytes: number }[]): Promise<void> {
  const some = stored.filter((s) => s.bytes > 0);
  if (some.length === 0) return;
  await sql`
    UPDATE runs r SET log_bytes = r.log_bytes + v.n
      FROM unnest(${some.map((s) => s.runId)}::text[], ${some.map((s) => s.bytes)}::bigint[]) AS v(id, n)
     WHERE r.id = v.id`.execute(trx);
  await sql`
    INSERT INTO account_storage (account_id, log_bytes)
    SELECT a, sum(n) FROM unnest(${some.map((s) => s.accountId)}::text[], ${some.map((s) => s.bytes)}::bigint[]) AS v(a, n)
     GROUP BY a ORDER BY a
    ON CONFLICT (account_id) DO UPDATE SET log_bytes = account_storage.log_bytes + excluded.log_bytes`.execute(trx);
}

/**
 * Lines written by setup commands, as persisted `log` events, as far as the run's and its
 * account's bounds allow; returns what was dropped (null: nothing).
 */
export async function appendBoundedLogs(db: Db, runId: string, lines: LogLine[], limits: LogLimits): Promise<DroppedLogs | null> {
  return db.transaction().execute(async (trx) => {
    const budget = (await lockLogBudgets(trx, [runId])).get(runId);
    if (!budget) return null; // purged or never admitted: nothing to write to
    const fit = fitLogs(lines, budget, limits);
    await appendEvents(trx, runStream(runId), fit.kept.map((l) => ({ type: 'log', data: { stream: l.stream, line: l.line } })));
    await addLogBytes(trx, [{ runId, accountId: budget.accountId, bytes: fit.keptBytes }]);
    return fit.dropped;
  });
}

/** Adds up what one writer dropped, batch after batch. */
export function addDropped(total: DroppedLogs | null, more: DroppedLogs): DroppedLogs {
  return total ? { ...total, lines: total.lines + more.lines, bytes: total.bytes + more.bytes } : more;
}

/**
 * The one marker of a writer (a preparation or execution attempt) that dropped log lines: the
 * run's last log event, saying by how much its log was cut. Not counted against the bounds.
 */
export async function appendLogTruncated(db: Db, runId: string, dropped: DroppedLogs): Promise<void> {
  const rule = {
    run: `a run stores at most ${dropped.limit} bytes of log`,
    account: `an account's unpurged runs store at most ${dropped.limit} bytes of log`,
    lines: `a setup attempt stores at most ${dropped.limit} lines of output`,
  }[dropped.bound];
  const line = `[runway] log truncated: ${dropped.lines} more lines (${dropped.bytes} bytes) were dropped; ${rule}`;
  const { lines, bytes, bound, limit } = dropped;
  await appendEventsNow(db, runStream(runId), [{ type: 'log', data: { stream: 'stderr', line, truncated: { lines, bytes, bound, limit } } }]);
}
