import { Migrator, sql } from 'kysely';
import { admitInDatabase, type AdmissionCall, type AdmissionOutcome } from '../src/db/admission';
import { createDb, createPool, ensureDatabaseExists, type Db } from '../src/db/database';
import { migrateToLatest, provider } from '../src/db/migrate';
import { applyRepeatable, renderSqlFile } from '../src/db/repeatable';
import { newId } from '../src/ids';
import type { AdmissionRejection, AdmissionRequest } from '../src/runs/admission';
import { admissionRequest } from './helpers/run-input';

/**
 * Every admission rule of `runway_admit` (src/db/sql/runway_admit.sql), one row each: the state
 * before (an account, earlier runs, sessions, spend), the request, and the decision expected.
 * Against the suite's real PostgreSQL, without Temporal or the API.
 */

let pool: ReturnType<typeof createPool>;
let db: Db;
beforeAll(() => {
  pool = createPool(process.env.DATABASE_URL as string, 4);
  db = createDb(pool);
});
afterAll(async () => {
  await db?.destroy();
});

interface AccountSetup {
  balance?: number;
  maxActiveRuns?: number | null;
  maxActiveRunsPerUser?: number | null;
}

interface SessionSetup {
  accountId?: string;
  status?: 'open' | 'closing' | 'closed';
  multitask?: 'enqueue' | 'reject' | 'interrupt';
  user?: string | null;
  /** A session with a workspace whose path is not recorded yet is preparing it. */
  preparing?: boolean;
  createdAgo?: string;
}

/** One row's world: its own account, and helpers to shape what exists before the request. */
class World {
  readonly sessions: string[] = [];
  private constructor(readonly accountId: string) {}

  static async create(setup: AccountSetup = {}): Promise<World> {
    const id = newId('acct');
    await db
      .insertInto('accounts')
      .values({
        id,
        name: 'rules',
        api_key_hash: id,
        balance: setup.balance ?? 1000,
        max_active_runs: setup.maxActiveRuns ?? null,
        max_active_runs_per_user: setup.maxActiveRunsPerUser ?? null,
      })
      .execute();
    return new World(id);
  }

  request(over: Partial<AdmissionRequest> = {}): AdmissionRequest {
    return admissionRequest(newId('run'), this.accountId, over);
  }

  /** An earlier run, admitted (so active: queued), then moved to `status` when given. */
  async run(over: Partial<AdmissionRequest> = {}, status?: 'running' | 'succeeded' | 'failed'): Promise<string> {
    const request = this.request({ estimate: 1, maxActiveRuns: 1000, ...over });
    const decided = await admitInDatabase(db, request);
    if (decided.outcome !== 'admitted') throw new Error(`setup run not admitted: ${JSON.stringify(decided)}`);
    if (status) await db.updateTable('runs').set({ status }).where('id', '=', request.runId).execute();
    return request.runId;
  }

  async session(s: SessionSetup = {}): Promise<string> {
    const id = newId('ses');
    await sql`
      INSERT INTO sessions (id, account_id, status, model, max_tokens, context_tokens, multitask, workspace, user_id, created_at)
      VALUES (${id}, ${s.accountId ?? this.accountId}, ${s.status ?? 'open'}, 'demo/echo', 5, 0, ${s.multitask ?? 'enqueue'},
              ${s.preparing ? JSON.stringify({ repo: 'https://example.test/r.git' }) : null}::jsonb, ${s.user ?? null},
              now() - ${s.createdAgo ?? '0 seconds'}::interval)`.execute(db);
    this.sessions.push(id);
    return id;
  }

  async tokenSpend(tokenId: string, spent: number, expiresAt = new Date(Date.now() + 3_600_000)): Promise<void> {
    await sql`INSERT INTO token_spend (account_id, token_id, spent, expires_at) VALUES (${this.accountId}, ${tokenId}, ${spent}, ${expiresAt})`.execute(db);
  }

  async userSpend(user: string, period: string, spent: number, windowsAgo = 0): Promise<void> {
    await sql`
      INSERT INTO end_user_spend (account_id, user_id, period, window_start, spent)
      VALUES (${this.accountId}, ${user}, ${period},
              date_trunc(${period}, now() AT TIME ZONE 'UTC') - ${`${windowsAgo} ${period}`}::interval, ${spent})`.execute(db);
  }

  async account(): Promise<{ balance: number; reserved: number }> {
    return db.selectFrom('accounts').select(['balance', 'reserved']).where('id', '=', this.accountId).executeTakeFirstOrThrow();
  }
}

/** An account's spend rows: by token id, or by end-user period (the tables are not in the typed schema). */
async function spendRows(w: World, table: 'token_spend' | 'end_user_spend'): Promise<{ key: string; spent: number }[]> {
  const key = sql.ref(table === 'token_spend' ? 'token_id' : 'period');
  const { rows } = await sql<{ key: string; spent: number }>`
    SELECT ${key} AS key, spent FROM ${sql.table(table)} WHERE account_id = ${w.accountId} ORDER BY 1`.execute(db);
  return rows;
}

/** A scoped token's spender, as the API passes it. */
function token(limits: { budget?: number; userBudget?: { credits: number; period: 'hour' | 'day' | 'week' | 'month' } }, id = newId('req')): AdmissionCall['token'] {
  return { tokenId: id, expiresAt: new Date(Date.now() + 3_600_000), limits };
}

type Expected = { outcome: 'admitted' | 'existing'; requestHash?: string } | { outcome: 'refused'; reason: AdmissionRejection; detail?: string };

interface Rule {
  rule: string;
  account?: AccountSetup;
  /** Builds the world before the request; returns what the request and the checks use. */
  setup?: (w: World) => Promise<Record<string, string | undefined> | void>;
  request?: (w: World, made: Record<string, string | undefined>) => Partial<AdmissionRequest>;
  call?: (w: World, made: Record<string, string | undefined>) => AdmissionCall;
  expected: Expected;
  /** Further checks of what the decision wrote. */
  then?: (w: World, request: AdmissionRequest, decided: AdmissionOutcome, made: Record<string, string | undefined>) => Promise<void>;
}

const rules: Rule[] = [
  {
    rule: 'a run within every cap is admitted: the run, its reservation, its queued event and its outbox entry',
    expected: { outcome: 'admitted' },
    then: async (w, request) => {
      expect(await w.account()).toEqual({ balance: 990, reserved: 10 });
      const run = await db.selectFrom('runs').selectAll().where('id', '=', request.runId).executeTakeFirstOrThrow();
      expect(run).toMatchObject({ status: 'queued', step: 'reserve', estimate: 10, request_hash: 'hash', user_id: null, price_input: 1, price_output: 1 });
      const ledger = await db.selectFrom('ledger_entries').select(['kind', 'amount', 'balance_after', 'reserved_after', 'idempotency_key']).where('run_id', '=', request.runId).execute();
      expect(ledger).toEqual([{ kind: 'reserve', amount: 10, balance_after: 990, reserved_after: 10, idempotency_key: `${request.runId}:reserve` }]);
      const events = await db.selectFrom('run_events').select(['id', 'type', 'data']).where('run_id', '=', request.runId).execute();
      expect(events).toEqual([{ id: 1, type: 'status', data: { status: 'queued', step: 'reserve' } }]);
      expect(await db.selectFrom('run_starts').select('run_id').where('run_id', '=', request.runId).execute()).toHaveLength(1);
    },
  },
  {
    rule: 'what the request carries is recorded: workspace, metadata, request id, retry, user metadata, sealed secrets, start delay',
    setup: async (w) => ({ retried: await w.run({}, 'failed') }),
    request: (_w, made) => ({
      workspace: { repo: 'https://example.test/r.git', ref: 'main' },
      metadata: { team: 'a' },
      requestId: newId('req'),
      retryOf: made.retried ?? null,
      sealedSecrets: { v: 1, iv: 'i', tag: 't', data: 'd' },
    }),
    call: () => ({ startAfterMs: 60_000, userMetadata: { note: 'from a token' } }),
    expected: { outcome: 'admitted' },
    then: async (_w, request) => {
      const run = await db.selectFrom('runs').selectAll().where('id', '=', request.runId).executeTakeFirstOrThrow();
      expect(run).toMatchObject({ workspace: request.workspace, metadata: { team: 'a' }, request_id: request.requestId, retry_of: request.retryOf, user_metadata: { note: 'from a token' } });
      const start = await sql<{ sealed_secrets: unknown; delay: number }>`
        SELECT sealed_secrets, extract(epoch FROM available_at - now())::float AS delay FROM run_starts WHERE run_id = ${request.runId}`.execute(db);
      expect(start.rows[0]?.sealed_secrets).toEqual({ v: 1, iv: 'i', tag: 't', data: 'd' });
      expect(start.rows[0]?.delay).toBeGreaterThan(50);
      expect(start.rows[0]?.delay).toBeLessThanOrEqual(60);
    },
  },
  {
    rule: 'a run that exists already is the earlier decision (an Idempotency-Key replay): nothing more is reserved',
    setup: async (w) => ({ first: await w.run({ requestHash: 'first', estimate: 10 }) }),
    request: (_w, made) => ({ runId: made.first as string, requestHash: 'second' }),
    expected: { outcome: 'existing', requestHash: 'first' },
    then: async (w) => expect(await w.account()).toEqual({ balance: 990, reserved: 10 }),
  },
  {
    rule: 'a missing session reads as not found',
    request: () => ({ sessionId: 'ses_missing' }),
    expected: { outcome: 'refused', reason: 'session-not-found', detail: 'no such session' },
  },
  {
    rule: "another account's session reads as not found",
    setup: async (w) => {
      const other = await World.create();
      return { session: await w.session({ accountId: other.accountId }) };
    },
    request: (_w, made) => ({ sessionId: made.session ?? null }),
    expected: { outcome: 'refused', reason: 'session-not-found', detail: 'no such session' },
  },
  {
    rule: "another end user's session reads as not found",
    setup: async (w) => ({ session: await w.session({ user: 'alice' }) }),
    request: (_w, made) => ({ sessionId: made.session ?? null, user: 'bob' }),
    expected: { outcome: 'refused', reason: 'session-not-found', detail: 'no such session' },
  },
  {
    rule: 'a closing session is closed',
    setup: async (w) => ({ session: await w.session({ status: 'closing' }) }),
    request: (_w, made) => ({ sessionId: made.session ?? null }),
    expected: { outcome: 'refused', reason: 'session-closed', detail: 'the session is closed' },
  },
  {
    rule: 'a closed session is closed, whatever the other caps say',
    account: { balance: 0, maxActiveRuns: 1 },
    setup: async (w) => {
      await w.run({ estimate: 0 });
      return { session: await w.session({ status: 'closed' }) };
    },
    request: (_w, made) => ({ sessionId: made.session ?? null }),
    expected: { outcome: 'refused', reason: 'session-closed' },
  },
  {
    rule: "a session in reject mode is busy while one of its runs is active",
    setup: async (w) => {
      const session = await w.session({ multitask: 'reject' });
      await w.run({ sessionId: session });
      return { session };
    },
    request: (_w, made) => ({ sessionId: made.session ?? null }),
    expected: { outcome: 'refused', reason: 'session-busy', detail: 'this session rejects new requests while one is queued or running' },
  },
  {
    rule: 'a session in reject mode takes a request once its runs have ended',
    setup: async (w) => {
      const session = await w.session({ multitask: 'reject' });
      await w.run({ sessionId: session }, 'succeeded');
      return { session };
    },
    request: (_w, made) => ({ sessionId: made.session ?? null }),
    expected: { outcome: 'admitted' },
  },
  {
    rule: 'a session in enqueue mode takes a request while one of its runs is active',
    setup: async (w) => {
      const session = await w.session({ multitask: 'enqueue' });
      await w.run({ sessionId: session });
      return { session };
    },
    request: (_w, made) => ({ sessionId: made.session ?? null }),
    expected: { outcome: 'admitted' },
  },
  {
    rule: "a session's request runs as the session's end user",
    setup: async (w) => ({ session: await w.session({ user: 'alice' }) }),
    request: (_w, made) => ({ sessionId: made.session ?? null, user: null }),
    expected: { outcome: 'admitted' },
    then: async (_w, request) => {
      expect(await db.selectFrom('runs').select('user_id').where('id', '=', request.runId).executeTakeFirstOrThrow()).toEqual({ user_id: 'alice' });
    },
  },
  {
    rule: "the account's active runs stay under the platform's default cap",
    setup: async (w) => {
      await w.run();
      await w.run({}, 'running');
    },
    request: () => ({ maxActiveRuns: 2 }),
    expected: { outcome: 'refused', reason: 'too-many-active-runs', detail: 'the account already has 2 active runs (maximum 2)' },
  },
  {
    rule: 'ended runs do not count as active',
    setup: async (w) => {
      await w.run({}, 'succeeded');
      await w.run({}, 'failed');
    },
    request: () => ({ maxActiveRuns: 1 }),
    expected: { outcome: 'admitted' },
  },
  {
    rule: "the account's own cap wins over the default, when lower",
    account: { maxActiveRuns: 1 },
    setup: async (w) => void (await w.run()),
    request: () => ({ maxActiveRuns: 10 }),
    expected: { outcome: 'refused', reason: 'too-many-active-runs', detail: 'the account already has 1 active runs (maximum 1)' },
  },
  {
    rule: "the account's own cap wins over the default, when higher",
    account: { maxActiveRuns: 5 },
    setup: async (w) => void (await w.run()),
    request: () => ({ maxActiveRuns: 1 }),
    expected: { outcome: 'admitted' },
  },
  {
    rule: 'a session preparing its workspace counts as an active run',
    setup: async (w) => void (await w.session({ preparing: true })),
    request: () => ({ maxActiveRuns: 1 }),
    expected: { outcome: 'refused', reason: 'too-many-active-runs', detail: 'the account already has 1 active runs (maximum 1)' },
  },
  {
    rule: 'a request to the preparing session itself does not count it again',
    setup: async (w) => ({ session: await w.session({ preparing: true }) }),
    request: (_w, made) => ({ sessionId: made.session ?? null, maxActiveRuns: 1 }),
    expected: { outcome: 'admitted' },
  },
  {
    rule: 'a session "preparing" for longer than a preparation can take holds no worker and does not count',
    setup: async (w) => void (await w.session({ preparing: true, createdAgo: '4 hours' })),
    request: () => ({ maxActiveRuns: 1 }),
    expected: { outcome: 'admitted' },
  },
  {
    rule: "an end user's active runs stay under the platform's default per-user cap",
    setup: async (w) => void (await w.run({ user: 'alice' })),
    request: () => ({ user: 'alice', maxActiveRunsPerUser: 1 }),
    expected: { outcome: 'refused', reason: 'too-many-active-runs-for-user', detail: 'the end user alice already has 1 active runs (maximum 1)' },
  },
  {
    rule: "another end user's runs do not count against a user's cap",
    setup: async (w) => {
      await w.run({ user: 'bob' });
      await w.run();
    },
    request: () => ({ user: 'alice', maxActiveRunsPerUser: 1 }),
    expected: { outcome: 'admitted' },
  },
  {
    rule: "the account's own per-user cap wins over the default (none)",
    account: { maxActiveRunsPerUser: 1 },
    setup: async (w) => void (await w.run({ user: 'alice' })),
    request: () => ({ user: 'alice', maxActiveRunsPerUser: null }),
    expected: { outcome: 'refused', reason: 'too-many-active-runs-for-user' },
  },
  {
    rule: "a session preparing its workspace counts against its end user's cap",
    setup: async (w) => void (await w.session({ preparing: true, user: 'alice' })),
    request: () => ({ user: 'alice', maxActiveRunsPerUser: 1 }),
    expected: { outcome: 'refused', reason: 'too-many-active-runs-for-user', detail: 'the end user alice already has 1 active runs (maximum 1)' },
  },
  {
    rule: 'a run without an end user has no per-user cap',
    setup: async (w) => void (await w.run()),
    request: () => ({ maxActiveRunsPerUser: 1 }),
    expected: { outcome: 'admitted' },
  },
  {
    rule: "the account's cap is checked before the end user's",
    setup: async (w) => void (await w.run({ user: 'alice' })),
    request: () => ({ user: 'alice', maxActiveRuns: 1, maxActiveRunsPerUser: 1 }),
    expected: { outcome: 'refused', reason: 'too-many-active-runs' },
  },
  {
    rule: "a scoped token's budget covers what its runs reserved plus the estimate",
    setup: async (w) => {
      await w.tokenSpend('tok-1', 10);
      return { token: 'tok-1' };
    },
    call: (_w, made) => ({ token: token({ budget: 15 }, made.token) }),
    expected: { outcome: 'refused', reason: 'token-budget-exceeded', detail: 'the run needs 10 credits; this token has 5 of its budget of 15 left' },
  },
  {
    rule: "an admitted run adds its estimate to its token's spend, and expired tokens' rows go",
    setup: async (w) => {
      await w.tokenSpend('tok-1', 10);
      await w.tokenSpend('tok-expired', 10, new Date(Date.now() - 2 * 3_600_000));
      return { token: 'tok-1' };
    },
    call: (_w, made) => ({ token: token({ budget: 20 }, made.token) }),
    expected: { outcome: 'admitted' },
    then: async (w) => {
      expect(await spendRows(w, 'token_spend')).toEqual([{ key: 'tok-1', spent: 20 }]);
    },
  },
  {
    rule: "an end user's budget for the period covers what they reserved in its window plus the estimate",
    setup: async (w) => void (await w.userSpend('alice', 'day', 95)),
    request: () => ({ user: 'alice' }),
    call: () => ({ token: token({ userBudget: { credits: 100, period: 'day' } }) }),
    expected: { outcome: 'refused', reason: 'user-budget-exceeded', detail: "the run needs 10 credits; the end user has 5 of this day's budget of 100 left" },
  },
  {
    rule: "spend from an earlier window does not count, and an admitted run starts the new window's spend in every period",
    setup: async (w) => void (await w.userSpend('alice', 'day', 95, 1)),
    request: () => ({ user: 'alice' }),
    call: () => ({ token: token({ userBudget: { credits: 100, period: 'day' } }) }),
    expected: { outcome: 'admitted' },
    then: async (w) => {
      expect(await spendRows(w, 'end_user_spend')).toEqual(['day', 'hour', 'month', 'week'].map((key) => ({ key, spent: 10 })));
    },
  },
  {
    rule: "a token's own budget is checked before its end user's",
    setup: async (w) => {
      await w.userSpend('alice', 'day', 95);
      await w.tokenSpend('tok-1', 10);
      return { token: 'tok-1' };
    },
    request: () => ({ user: 'alice' }),
    call: (_w, made) => ({ token: token({ budget: 15, userBudget: { credits: 100, period: 'day' } }, made.token) }),
    expected: { outcome: 'refused', reason: 'token-budget-exceeded' },
  },
  {
    rule: "the account's key (no token) has no token or end-user budget and records no spend",
    setup: async (w) => void (await w.userSpend('alice', 'day', 1000)),
    request: () => ({ user: 'alice' }),
    expected: { outcome: 'admitted' },
    then: async (w) => {
      expect(await spendRows(w, 'token_spend')).toEqual([]);
      expect(await spendRows(w, 'end_user_spend')).toEqual([{ key: 'day', spent: 1000 }]);
    },
  },
  {
    rule: 'the balance covers the estimate',
    account: { balance: 9 },
    expected: { outcome: 'refused', reason: 'insufficient-credits', detail: 'the run needs 10 credits; the available balance is 9' },
  },
  {
    rule: 'a balance of exactly the estimate is enough',
    account: { balance: 10 },
    expected: { outcome: 'admitted' },
    then: async (w) => expect(await w.account()).toEqual({ balance: 0, reserved: 10 }),
  },
  {
    rule: 'the active-run cap is checked before the balance',
    account: { balance: 0 },
    setup: async (w) => void (await w.run({ estimate: 0 })),
    request: () => ({ maxActiveRuns: 1 }),
    expected: { outcome: 'refused', reason: 'too-many-active-runs' },
  },
  {
    rule: "the token's budget is checked before the balance",
    account: { balance: 0 },
    call: () => ({ token: token({ budget: 5 }) }),
    expected: { outcome: 'refused', reason: 'token-budget-exceeded' },
  },
];

describe('runway_admit', () => {
  test.each(rules.map((r) => [r.rule, r] as const))('%s', async (_rule, r) => {
    const w = await World.create(r.account);
    const made = (await r.setup?.(w)) ?? {};
    const before = await w.account();
    const request = w.request(r.request?.(w, made));
    const decided = await admitInDatabase(db, request, r.call?.(w, made));
    expect(decided).toMatchObject(r.expected);
    if (decided.outcome === 'refused') {
      // A refusal writes nothing.
      expect(decided.balance).toBe(before.balance);
      expect(await w.account()).toEqual(before);
      expect(await db.selectFrom('runs').select('id').where('id', '=', request.runId).execute()).toEqual([]);
      expect(await db.selectFrom('run_starts').select('run_id').where('run_id', '=', request.runId).execute()).toEqual([]);
    }
    await r.then?.(w, request, decided, made);
  });

  test('an unknown account is an error, not a refusal', async () => {
    const w = await World.create();
    await expect(admitInDatabase(db, w.request({ accountId: 'acct_missing' }))).rejects.toMatchObject({ code: 'P0002' });
  });
});

/** A database of its own (the repeatable step's state is per database), dropped afterwards. */
async function withFreshDatabase(use: (fresh: Db) => Promise<void>): Promise<void> {
  const base = new URL(process.env.DATABASE_URL as string);
  const name = `${base.pathname.slice(1)}_rep_${Math.random().toString(36).slice(2, 8)}`;
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  await ensureDatabaseExists(url.toString());
  const freshPool = createPool(url.toString(), 4);
  const fresh = createDb(freshPool);
  try {
    await use(fresh);
  } finally {
    await fresh.destroy();
    await sql`DROP DATABASE IF EXISTS ${sql.id(name)}`.execute(db);
  }
}

async function admitSource(d: Db): Promise<string[]> {
  const { rows } = await sql<{ signature: string; src: string }>`
    SELECT p.oid::regprocedure::text AS signature, p.prosrc AS src FROM pg_proc p WHERE p.proname = 'runway_admit'`.execute(d);
  return rows.map((r) => `${r.signature}${r.src.includes('-- edited') ? ' (edited)' : ''}`);
}

describe('the repeatable step', () => {
  test('a fresh database migrates, and the function is created once, then left alone while its text is the same', async () => {
    await withFreshDatabase(async (fresh) => {
      expect(await migrateToLatest(fresh)).toEqual(expect.arrayContaining(['0015-compat-floor', 'runway_admit.sql']));
      expect(await admitSource(fresh)).toEqual(['runway_admit(jsonb)']);
      const stored = await sql<{ applied_at: Date }>`SELECT applied_at FROM repeatable_sql WHERE name = 'runway_admit'`.execute(fresh);
      expect(await migrateToLatest(fresh)).toEqual([]);
      const again = await sql<{ applied_at: Date }>`SELECT applied_at FROM repeatable_sql WHERE name = 'runway_admit'`.execute(fresh);
      expect(again.rows).toEqual(stored.rows);
    });
  });

  test('the function is replaced when its text changes, once, however many processes migrate at once', async () => {
    await withFreshDatabase(async (fresh) => {
      await migrateToLatest(fresh);
      const current = renderSqlFile('runway_admit');
      const edited = { name: current.name, text: current.text.replace('BEGIN\n', 'BEGIN\n  -- edited\n') };
      const applied = await Promise.all([applyRepeatable(fresh, [edited]), applyRepeatable(fresh, [edited]), applyRepeatable(fresh, [edited])]);
      expect(applied.flat()).toEqual(['runway_admit']);
      expect(await admitSource(fresh)).toEqual(['runway_admit(jsonb) (edited)']);
      expect(await applyRepeatable(fresh, [edited])).toEqual([]);
      // Back to the file's text: replaced again.
      expect(await applyRepeatable(fresh)).toEqual(['runway_admit']);
      expect(await admitSource(fresh)).toEqual(['runway_admit(jsonb)']);
    });
  });

  test('a placeholder the TypeScript does not fill in is an error', () => {
    expect(() => renderSqlFile('runway_admit', { active_statuses: "'queued'" })).toThrow('unknown placeholder {{preparing_at_most}}');
  });

  test('upgrading a 0.1 database drops admission_rejections and the positional runway_admit', async () => {
    await withFreshDatabase(async (fresh) => {
      const { error } = await new Migrator({ db: fresh, provider }).migrateTo('0014-overuse');
      expect(error).toBeUndefined();
      // 0.1's last function, by its signature (its body does not matter here).
      await sql`
        CREATE FUNCTION runway_admit(text, text, text, text, integer, jsonb, jsonb, text, text, text, text, bigint, integer, integer,
          integer, text, jsonb, interval, text, integer, jsonb, text, timestamptz, bigint, bigint, text) RETURNS integer
        LANGUAGE sql AS 'SELECT 1'`.execute(fresh);
      expect(await migrateToLatest(fresh)).toEqual(expect.arrayContaining(['0015-compat-floor', 'runway_admit.sql']));
      expect(await admitSource(fresh)).toEqual(['runway_admit(jsonb)']);
      const legacy = await sql<{ t: string | null }>`SELECT to_regclass('admission_rejections')::text AS t`.execute(fresh);
      expect(legacy.rows).toEqual([{ t: null }]);
    });
  });
});
