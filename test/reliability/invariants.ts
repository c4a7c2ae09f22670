import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { sql } from 'kysely';
import type { Db } from '../../src/db/database';
import { SEARCH_ATTRIBUTE_NAMES, TERMINAL_STATUSES } from '../../workflows/run-vocabulary';
import type { ReceivedWebhook } from '../helpers/webhook-receiver';

/**
 * What must hold once the system is idle, read from PostgreSQL and Temporal rather than from the
 * API's word (issue #19). Each check returns violations as sentences; an empty list is a pass.
 */
export interface InvariantReport {
  runs: number;
  events: number;
  deliveries: number;
  /** Webhook deliveries whose 2xx arrived more than once (a worker killed after the POST, before recording it). */
  duplicateWebhooks: number;
  violations: string[];
}

const terminal = sql.join(TERMINAL_STATUSES.map((s) => sql.lit(s)));

/** Every run ended and cleaned up; every reservation charged or refunded to the credit. */
async function runChecks(db: Db, accounts: string[], out: string[]): Promise<number> {
  const runs = await sql<{ id: string; status: string; step: string; estimate: number; charged: number | null; refunded: number | null }>`
    SELECT id, status, step, estimate, charged, refunded FROM runs WHERE account_id = ANY(${accounts})`.execute(db);
  for (const r of runs.rows) {
    if (!(TERMINAL_STATUSES as readonly string[]).includes(r.status) || r.step !== 'done') out.push(`run ${r.id} is ${r.status}/${r.step}, not finished`);
    else if (r.charged === null || r.refunded === null || Number(r.charged) + Number(r.refunded) !== Number(r.estimate)) {
      out.push(`run ${r.id}: charged ${r.charged} + refunded ${r.refunded} ≠ estimate ${r.estimate}`);
    }
  }
  const ledger = await sql<{ run_id: string; kinds: string; amounts: string }>`
    SELECT l.run_id, string_agg(l.kind, ',' ORDER BY l.kind) AS kinds,
           string_agg(l.kind || '=' || l.amount, ',' ORDER BY l.kind) AS amounts
    FROM ledger_entries l WHERE l.account_id = ANY(${accounts}) AND l.run_id IS NOT NULL GROUP BY l.run_id`.execute(db);
  const byRun = new Map(runs.rows.map((r) => [r.id, r]));
  for (const l of ledger.rows) {
    const run = byRun.get(l.run_id);
    if (l.kinds !== 'charge,refund,reserve') out.push(`run ${l.run_id}: ledger rows ${l.kinds} (one reserve, one charge, one refund expected)`);
    else if (run && l.amounts !== `charge=${run.charged},refund=${run.refunded},reserve=${run.estimate}`) out.push(`run ${l.run_id}: ledger ${l.amounts} ≠ the run's`);
  }
  for (const r of runs.rows) if (!ledger.rows.some((l) => l.run_id === r.id)) out.push(`run ${r.id} has no ledger rows`);
  return runs.rows.length;
}

/** balance = credits − charges, reserved = 0, and the ledger's running totals end where the account is. */
async function accountChecks(db: Db, accounts: string[], out: string[]): Promise<void> {
  const rows = await sql<{ id: string; balance: number; reserved: number; credits: number; charges: number; reserves: number; refunds: number; last_balance: number | null; last_reserved: number | null }>`
    SELECT a.id, a.balance, a.reserved,
      coalesce(sum(l.amount) FILTER (WHERE l.kind = 'credit'), 0)::bigint AS credits,
      coalesce(sum(l.amount) FILTER (WHERE l.kind = 'charge'), 0)::bigint AS charges,
      coalesce(sum(l.amount) FILTER (WHERE l.kind = 'reserve'), 0)::bigint AS reserves,
      coalesce(sum(l.amount) FILTER (WHERE l.kind = 'refund'), 0)::bigint AS refunds,
      (SELECT balance_after FROM ledger_entries x WHERE x.account_id = a.id ORDER BY x.id DESC LIMIT 1) AS last_balance,
      (SELECT reserved_after FROM ledger_entries x WHERE x.account_id = a.id ORDER BY x.id DESC LIMIT 1) AS last_reserved
    FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
    WHERE a.id = ANY(${accounts}) GROUP BY a.id`.execute(db);
  for (const a of rows.rows) {
    const n = (v: unknown) => Number(v);
    if (n(a.reserved) !== 0) out.push(`account ${a.id}: reserved ${a.reserved}, not 0`);
    if (n(a.balance) !== n(a.credits) - n(a.charges)) out.push(`account ${a.id}: balance ${a.balance} ≠ credits ${a.credits} − charges ${a.charges}`);
    if (n(a.balance) !== n(a.credits) - n(a.reserves) + n(a.refunds)) out.push(`account ${a.id}: balance ≠ credits − reserves + refunds`);
    if (a.last_balance !== null && (n(a.last_balance) !== n(a.balance) || n(a.last_reserved) !== n(a.reserved))) {
      out.push(`account ${a.id}: the last ledger row says ${a.last_balance}/${a.last_reserved}, the account ${a.balance}/${a.reserved}`);
    }
  }
}

/** Event ids 1..N without gap or repeat, N the run's head; output = the deltas after the last reset. */
async function eventChecks(db: Db, accounts: string[], out: string[]): Promise<number> {
  const rows = await sql<{ id: string; last_event_id: number; output: string; ids: number[]; replayed: string }>`
    SELECT r.id, r.last_event_id, r.output, array_agg(e.id ORDER BY e.id) AS ids,
      coalesce(string_agg(e.data->>'text', '' ORDER BY e.id) FILTER (
        WHERE e.type = 'delta' AND e.id > coalesce((SELECT max(z.id) FROM run_events z WHERE z.run_id = r.id AND z.type = 'reset'), 0)), '') AS replayed
    FROM runs r JOIN run_events e ON e.run_id = r.id
    WHERE r.account_id = ANY(${accounts}) GROUP BY r.id`.execute(db);
  let events = 0;
  for (const r of rows.rows) {
    const ids = r.ids.map(Number);
    events += ids.length;
    const gapless = ids.every((id, i) => id === i + 1) && ids.length === Number(r.last_event_id);
    if (!gapless) out.push(`run ${r.id}: event ids ${describeIds(ids)} for a head of ${r.last_event_id}`);
    if (r.replayed !== r.output) out.push(`run ${r.id}: output (${r.output.length} chars) ≠ its deltas after the last reset (${r.replayed.length} chars)`);
  }
  return events;
}

function describeIds(ids: number[]): string {
  return ids.length <= 12 ? `[${ids.join(',')}]` : `[${ids.slice(0, 5).join(',')} … ${ids.slice(-5).join(',')}] (${ids.length})`;
}

/** Each owed delivery delivered, every attempt with the delivery's id as `webhook-id`. */
async function webhookChecks(db: Db, accounts: string[], received: ReceivedWebhook[], out: string[]): Promise<{ deliveries: number; duplicates: number }> {
  const deliveries = await db.selectFrom('webhook_deliveries').select(['id', 'status', 'run_id']).where('account_id', 'in', accounts).execute();
  const ok = new Map<string, number>();
  for (const r of received) if (r.answered >= 200 && r.answered < 300) ok.set(r.headers['webhook-id'] ?? '', (ok.get(r.headers['webhook-id'] ?? '') ?? 0) + 1);
  const known = new Set(deliveries.map((d) => d.id));
  for (const id of ok.keys()) if (!known.has(id)) out.push(`a webhook arrived with an unknown webhook-id ${id}`);
  let duplicates = 0;
  for (const d of deliveries) {
    if (d.status !== 'delivered') out.push(`delivery ${d.id} (run ${d.run_id}) is ${d.status}`);
    const arrivals = ok.get(d.id) ?? 0;
    if (arrivals === 0) out.push(`delivery ${d.id} (run ${d.run_id}) never arrived with a 2xx`);
    if (arrivals > 1) duplicates++;
  }
  return { deliveries: deliveries.length, duplicates };
}

/** Runway workflows of these accounts still open (visibility is eventually consistent: asked until stable). */
async function openWorkflows(temporal: Client, accounts: string[]): Promise<string[]> {
  const query = `${SEARCH_ATTRIBUTE_NAMES.account} IN (${accounts.map((a) => `'${a}'`).join(', ')}) AND ExecutionStatus = 'Running'`;
  let open: string[] = [];
  for (let i = 0; i < 40; i++) {
    open = [];
    for await (const w of temporal.workflow.list({ query })) open.push(`${w.type} ${w.workflowId}`);
    if (open.length === 0) return [];
    await sleep(250);
  }
  return open.map((w) => `workflow ${w} is still running`);
}

export async function checkInvariants(deps: { db: Db; temporal: Client }, accounts: string[], received: ReceivedWebhook[] = []): Promise<InvariantReport> {
  const violations: string[] = [];
  const runs = await runChecks(deps.db, accounts, violations);
  await accountChecks(deps.db, accounts, violations);
  const events = await eventChecks(deps.db, accounts, violations);
  const hooks = await webhookChecks(deps.db, accounts, received, violations);
  violations.push(...(await openWorkflows(deps.temporal, accounts)));
  return { runs, events, deliveries: hooks.deliveries, duplicateWebhooks: hooks.duplicates, violations };
}

/** Waits until no run of these accounts is active any more (or the deadline passes). */
export async function waitUntilIdle(db: Db, accounts: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const busy = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM runs WHERE account_id = ANY(${accounts}) AND (status NOT IN (${terminal}) OR step <> 'done')`.execute(db);
    const pending = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM webhook_deliveries WHERE account_id = ANY(${accounts}) AND status = 'pending'`.execute(db);
    if (busy.rows[0]!.n === 0 && pending.rows[0]!.n === 0) return;
    if (Date.now() > deadline) return; // the invariants then say what is stuck
    await sleep(250);
  }
}
