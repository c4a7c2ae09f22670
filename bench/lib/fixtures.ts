import type { Db } from '../../src/db/database';
import { createAccount } from '../../src/db/accounts';
import { appendEventsNow, runStream } from '../../src/db/run-events';
import { newId } from '../../src/ids';

/**
 * Rows the benches put straight into the database: accounts with room for any load, runs that
 * are "running" without a workflow (for idle streams and the emitter), and a finished run with a
 * long event log (for replay). The platform's own repositories are used wherever one exists.
 */
export interface BenchAccount {
  id: string;
  apiKey: string;
}

export async function createBenchAccount(db: Db, name: string): Promise<BenchAccount> {
  const { account, apiKey } = await createAccount(db, { name, credits: 1_000_000_000_000, maxActiveRuns: 1_000_000 });
  return { id: account.id, apiKey };
}

function fixtureRun(accountId: string) {
  return {
    id: newId('run'),
    account_id: accountId,
    status: 'running' as const,
    step: 'execute' as const,
    model: 'demo/echo',
    prompt: 'bench fixture',
    max_tokens: 1_000_000,
    metadata: JSON.stringify({ bench: true }),
    request_hash: 'bench',
    estimate: 0,
    price_input: 0,
    price_output: 0,
    started_at: new Date(),
  };
}

/** Runs in status `running` with no events and no workflow: their event streams stay live. */
export async function insertRunningRuns(db: Db, accountId: string, count: number): Promise<string[]> {
  const rows = Array.from({ length: count }, () => fixtureRun(accountId));
  for (let i = 0; i < rows.length; i += 500) await db.insertInto('runs').values(rows.slice(i, i + 500)).execute();
  return rows.map((r) => r.id);
}

/** Ends a fixture run as settle would: terminal status, then the `end` event that closes streams. */
export async function finishFixtureRun(db: Db, runId: string): Promise<void> {
  await db.updateTable('runs').set({ status: 'succeeded', step: 'done', completed_at: new Date() }).where('id', '=', runId).execute();
  await appendEventsNow(db, runStream(runId), [{ type: 'end', data: { status: 'succeeded' } }]);
}

/**
 * A run whose log holds `events` persisted events: deltas of a few words each, then `end` for a
 * succeeded run (the default) or nothing more for a running one. Inserted in pages (one statement
 * per page) rather than through the writer, which would take minutes to produce the same log.
 */
export async function insertRunWithEvents(db: Db, accountId: string, events: number, options: { running?: boolean } = {}): Promise<string> {
  const run = options.running
    ? fixtureRun(accountId)
    : { ...fixtureRun(accountId), status: 'succeeded' as const, step: 'done' as const, completed_at: new Date() };
  await db.insertInto('runs').values({ ...run, last_event_id: events }).execute();
  const PAGE = 2000;
  for (let first = 1; first <= events; first += PAGE) {
    const rows = [];
    for (let id = first; id < Math.min(first + PAGE, events + 1); id++) {
      const end = id === events && !options.running;
      rows.push({
        run_id: run.id,
        id,
        type: end ? 'end' : 'delta',
        data: JSON.stringify(end ? { status: 'succeeded' } : { text: `token ${id} of the replay bench ` }),
      });
    }
    await db.insertInto('run_events').values(rows).execute();
  }
  return run.id;
}
