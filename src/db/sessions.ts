import { sql, type ExpressionBuilder, type Transaction } from 'kysely';
import { ACTIVE_STATUSES } from '../../workflows/run-vocabulary';
import type { Db } from './database';
import { sessionVisibleTo, type Visibility } from './visibility';
import type { Database, Multitask, RunRow, SessionRow, SessionStatus, WorkspaceSpec } from './schema';

/**
 * Longest a session's workspace preparation can take (5 attempts × 30 min), with room: an older
 * preparing row is a session whose workflow never started (its API died in between) and holds no
 * worker. Admission (src/db/sql/runway_admit.sql) counts preparing sessions with the same bound.
 */
export const PREPARING_AT_MOST = '3 hours';

export interface NewSession {
  id: string;
  accountId: string;
  model: string;
  maxTokens: number;
  contextTokens: number;
  multitask: Multitask;
  workspace: WorkspaceSpec | null;
  metadata: Record<string, unknown>;
  userMetadata: Record<string, unknown> | null;
  user: string | null;
}

export interface SessionCaps {
  /** Sessions not yet closed, per account and per end user. */
  maxOpen: number;
  maxOpenPerUser: number;
  /** The platform's default active-run caps (an account's own win). */
  maxActiveRuns: number;
  maxActiveRunsPerUser: number | null;
}

export type SessionCapRefusal =
  | { cap: 'open-sessions'; scope: 'account' | 'user'; max: number }
  | { cap: 'active-runs'; scope: 'account' | 'user'; max: number; active: number; balance: number };

/** A session preparing its workspace: open, with a workspace whose path is not recorded yet (as in `runway_admit`). */
function preparing(eb: ExpressionBuilder<Database, 'sessions'>) {
  return eb.and([
    eb('status', '=', 'open'),
    eb('workspace', 'is not', null),
    eb('workspace_path', 'is', null),
    eb('created_at', '>', sql<Date>`now() - ${PREPARING_AT_MOST}::interval`),
  ]);
}

/**
 * Inserts the session unless a cap is reached: the account's or its end user's sessions not yet
 * closed; and, for a session with a workspace (its preparation holds a worker like a run, for
 * free), the active-run caps, where preparing sessions count as active runs (as in admission).
 * The account row is locked first, so concurrent creations and admissions cannot pass the caps.
 */
export async function insertSessionWithinCaps(db: Db, s: NewSession, caps: SessionCaps): Promise<SessionRow | SessionCapRefusal> {
  return db.transaction().execute(async (trx) => {
    const account = await trx
      .selectFrom('accounts')
      .select(['balance', 'max_active_runs', 'max_active_runs_per_user'])
      .where('id', '=', s.accountId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const openOf = async (user: string | null) => {
      let q = trx.selectFrom('sessions').select((eb) => eb.fn.countAll<string>().as('n')).where('account_id', '=', s.accountId).where('status', '!=', 'closed');
      if (user !== null) q = q.where('user_id', '=', user);
      return Number((await q.executeTakeFirstOrThrow()).n);
    };
    if ((await openOf(null)) >= caps.maxOpen) return { cap: 'open-sessions', scope: 'account', max: caps.maxOpen };
    if (s.user !== null && (await openOf(s.user)) >= caps.maxOpenPerUser) return { cap: 'open-sessions', scope: 'user', max: caps.maxOpenPerUser };
    if (s.workspace) {
      const activeOf = async (user: string | null) => {
        let runs = trx.selectFrom('runs').select((eb) => eb.fn.countAll<string>().as('n')).where('account_id', '=', s.accountId).where('status', 'in', ACTIVE_STATUSES);
        let prep = trx.selectFrom('sessions').select((eb) => eb.fn.countAll<string>().as('n')).where('account_id', '=', s.accountId).where(preparing);
        if (user !== null) {
          runs = runs.where('user_id', '=', user);
          prep = prep.where('user_id', '=', user);
        }
        return Number((await runs.executeTakeFirstOrThrow()).n) + Number((await prep.executeTakeFirstOrThrow()).n);
      };
      const balance = Number(account.balance);
      const max = account.max_active_runs ?? caps.maxActiveRuns;
      const active = await activeOf(null);
      if (active >= max) return { cap: 'active-runs', scope: 'account', max, active, balance };
      const userMax = account.max_active_runs_per_user ?? caps.maxActiveRunsPerUser;
      if (s.user !== null && userMax !== null) {
        const userActive = await activeOf(s.user);
        if (userActive >= userMax) return { cap: 'active-runs', scope: 'user', max: userMax, active: userActive, balance };
      }
    }
    return insertSession(trx, s);
  });
}

export async function insertSession(db: Db | Transaction<Database>, s: NewSession): Promise<SessionRow> {
  return db
    .insertInto('sessions')
    .values({
      id: s.id,
      account_id: s.accountId,
      model: s.model,
      max_tokens: s.maxTokens,
      context_tokens: s.contextTokens,
      multitask: s.multitask,
      workspace: s.workspace ? JSON.stringify(s.workspace) : null,
      metadata: JSON.stringify(s.metadata),
      user_metadata: s.userMetadata ? JSON.stringify(s.userMetadata) : null,
      user_id: s.user,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A session as the caller may see it: another account's, or one outside a token's scope, is missing. */
export async function getVisibleSession(db: Db, v: Visibility, id: string): Promise<SessionRow | undefined> {
  return db.selectFrom('sessions').selectAll().where('id', '=', id).where(sessionVisibleTo(v)).executeTakeFirst();
}

export interface SessionListQuery {
  limit: number;
  /** Only sessions older than this `seq` (the cursor). */
  beforeSeq?: number;
  status?: SessionStatus;
  user?: string;
}

export async function listVisibleSessions(db: Db, v: Visibility, q: SessionListQuery): Promise<SessionRow[]> {
  let query = db.selectFrom('sessions').selectAll().where(sessionVisibleTo(v));
  if (q.status) query = query.where('status', '=', q.status);
  if (q.user) query = query.where('user_id', '=', q.user);
  if (q.beforeSeq !== undefined) query = query.where('seq', '<', q.beforeSeq);
  return query.orderBy('seq', 'desc').limit(q.limit).execute();
}

export async function setSessionStatus(db: Db, id: string, status: SessionStatus): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ status, ...(status === 'closed' ? { closed_at: new Date() } : {}) })
    .where('id', '=', id)
    .execute();
}

export async function markSessionClosing(db: Db, id: string): Promise<void> {
  await db.updateTable('sessions').set({ status: 'closing' }).where('id', '=', id).where('status', '=', 'open').execute();
}

export async function setSessionWorkspacePath(db: Db, id: string, path: string | null): Promise<void> {
  await db.updateTable('sessions').set({ workspace_path: path }).where('id', '=', id).execute();
}

/** The session's context budget in tokens, or undefined when there is no such session. */
export async function getSessionContextTokens(db: Db, sessionId: string): Promise<number | undefined> {
  const session = await db.selectFrom('sessions').select('context_tokens').where('id', '=', sessionId).executeTakeFirst();
  return session?.context_tokens;
}

/** A request of this session (its run, not deleted); another session's request id finds nothing. */
export async function getSessionRequestRun(db: Db, sessionId: string, requestId: string): Promise<RunRow | undefined> {
  return db
    .selectFrom('runs')
    .selectAll()
    .where('request_id', '=', requestId)
    .where('session_id', '=', sessionId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/** An earlier request of a session, as its context: an agent run's `step_count` is its transcript's length. */
export interface SessionTurn {
  id: string;
  prompt: string;
  output: string;
  step_count: number;
}

/**
 * The session's earlier turns for a request's model input, newest kept first within the budget
 * (in the provider's estimated tokens), returned oldest first.
 */
export async function sessionTurnsBefore(
  db: Db,
  sessionId: string,
  beforeSeq: number,
  budgetTokens: number,
  estimate: (text: string) => number,
): Promise<SessionTurn[]> {
  const rows = await db
    .selectFrom('runs')
    .select(['id', 'prompt', 'output', 'step_count'])
    .where('session_id', '=', sessionId)
    .where('seq', '<', beforeSeq)
    .where('status', '=', 'succeeded')
    .where('deleted_at', 'is', null) // a deleted turn no longer feeds the session's context
    .orderBy('seq', 'desc')
    .limit(200)
    .execute();
  const turns: SessionTurn[] = [];
  let used = 0;
  for (const row of rows) {
    const cost = estimate(row.prompt) + estimate(row.output);
    if (used + cost > budgetTokens) break;
    used += cost;
    turns.push(row);
  }
  return turns.reverse();
}

export async function getSessionStatus(db: Db, id: string): Promise<SessionStatus | undefined> {
  const row = await db.selectFrom('sessions').select('status').where('id', '=', id).executeTakeFirst();
  return row?.status;
}

/** Whether the session's stream already has an event of this type about this run. */
export async function hasSessionEventFor(db: Db, sessionId: string, type: string, runId: string): Promise<boolean> {
  const seen = await db
    .selectFrom('run_events')
    .select('id')
    .where('run_id', '=', sessionId)
    .where('type', '=', type)
    .where(sql<boolean>`data->>'runId' = ${runId}`)
    .executeTakeFirst();
  return seen !== undefined;
}
