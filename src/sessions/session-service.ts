import type { Client } from '@temporalio/client';
import type { Db } from '../db/database';
import { getRunById } from '../db/runs';
import type { AccountRow, SessionRow } from '../db/schema';
import { insertSessionWithinCaps, markSessionClosing, setSessionStatus, type SessionCapRefusal } from '../db/sessions';
import { derivedId, newId } from '../ids';
import { AdmissionRefused, SessionClosed, TemporalUnavailable, TooManyOpenSessions } from '../runs/errors';
import type { RunStarter, StartedRun } from '../runs/run-starter';
import { assertTokenAllows, type TokenSpender } from '../runs/token-limits';
import { assertValidWorkspace } from '../workspaces/validate';
import type { WorkspacePolicy } from '../workspaces/settings';
import {
  closeSessionSignal,
  SESSION_WORKFLOW_TYPE,
  sessionStateQuery,
} from '../../workflows/definitions';
import type { sessionWorkflow } from '../../workflows/session-workflow';
import { RUNWAY_ACCOUNT, RUNWAY_USER, type SessionState, type SessionWorkflowInput } from '../../workflows/types';
import type { CreateSessionRequest, SessionRequestBody } from './requests';

export interface SessionServiceDeps {
  db: Db;
  temporal: Client;
  starter: RunStarter;
  taskQueue: string;
  /** Sessions an account, and one of its end users, may have that are not closed yet. */
  maxOpenSessions: number;
  maxOpenSessionsPerUser: number;
  /** How long a session with nothing queued or running stays open. */
  idleTimeoutMs: number;
  /** The platform's default active-run caps: a session preparing its workspace counts as an active run. */
  maxActiveRuns: number;
  maxActiveRunsPerUser: number | null;
  workspaces?: WorkspacePolicy;
}

/** The request id shown to clients is the run id under another prefix: one lookup, no mapping table. */
export const requestIdOf = (runId: string) => `req_${runId.slice('run_'.length)}`;

/**
 * Sessions as long-lived workflows. A request is admitted as an ordinary run (its own reservation,
 * 402/429 as usual, 409 when the session is closed or, in reject mode, busy); the session then
 * runs its requests one at a time in admission order.
 */
export class SessionService {
  constructor(private readonly deps: SessionServiceDeps) {}

  async create(account: AccountRow, body: CreateSessionRequest, token?: TokenSpender): Promise<SessionRow> {
    if (token) assertTokenAllows(token.limits, body);
    this.deps.starter.estimate({ prompt: 'x', model: body.model, maxTokens: body.maxTokens, metadata: {} }); // UnknownModel
    assertValidWorkspace(body.workspace, this.deps.workspaces);
    const inserted = await insertSessionWithinCaps(this.deps.db, {
      id: newId('ses'),
      accountId: account.id,
      model: body.model,
      maxTokens: body.maxTokens,
      contextTokens: body.contextTokens,
      multitask: body.multitask,
      workspace: body.workspace ?? null,
      metadata: body.metadata,
      userMetadata: body.userMetadata ?? null,
      user: body.user ?? null,
    }, {
      maxOpen: this.deps.maxOpenSessions,
      maxOpenPerUser: this.deps.maxOpenSessionsPerUser,
      maxActiveRuns: this.deps.maxActiveRuns,
      maxActiveRunsPerUser: this.deps.maxActiveRunsPerUser,
    });
    if ('cap' in inserted) throw refusalOf(inserted);
    const session = inserted;
    const input: SessionWorkflowInput = {
      sessionId: session.id,
      accountId: account.id,
      multitask: body.multitask,
      workspace: body.workspace ?? null,
      idleTimeoutMs: this.deps.idleTimeoutMs,
    };
    const start = () =>
      this.deps.temporal.workflow.start<typeof sessionWorkflow>(SESSION_WORKFLOW_TYPE, {
        workflowId: session.id,
        taskQueue: this.deps.taskQueue,
        args: [input],
        typedSearchAttributes: [
          { key: RUNWAY_ACCOUNT, value: account.id },
          ...(session.user_id ? [{ key: RUNWAY_USER, value: session.user_id }] : []),
        ],
        memo: { model: body.model, multitask: body.multitask },
        staticSummary: `session (${body.multitask}) for ${account.id}`,
      });
    try {
      // Bounded: the client's own retries of an unreachable server would hold the request longer.
      await this.deps.temporal.withDeadline(Date.now() + 5_000, start);
    } catch (err) {
      await setSessionStatus(this.deps.db, session.id, 'closed');
      // A session is a workflow from its creation on: without Temporal there is none to open.
      throw TemporalUnavailable.from(err);
    }
    return session;
  }

  async submit(
    account: AccountRow,
    session: SessionRow,
    body: SessionRequestBody,
    { idempotencyKey, token }: { idempotencyKey?: string; token?: TokenSpender } = {},
  ): Promise<StartedRun & { requestId: string }> {
    const runId = idempotencyKey ? derivedId('run', account.id, session.id, idempotencyKey) : newId('run');
    const requestId = requestIdOf(runId);
    const request = {
      prompt: body.prompt,
      model: session.model,
      maxTokens: body.maxTokens ?? session.max_tokens,
      // A token's holder is not the tenant: what it writes as metadata is stored and sent apart.
      ...(token ? { metadata: {}, userMetadata: body.metadata } : { metadata: body.metadata }),
      secrets: body.secrets,
      tools: body.tools,
      maxSteps: body.maxSteps,
      maxCredits: body.maxCredits,
      sessionId: session.id,
      user: session.user_id ?? undefined,
    };
    const ids = { runId, requestId, contextTokens: session.context_tokens, hasWorkspace: session.workspace !== null };
    // A replayed Idempotency-Key returns its run without queueing it again.
    if (idempotencyKey && (await getRunById(this.deps.db, runId))) {
      return { ...(await this.deps.starter.start(account, request, { idempotencyKey, session: ids, token })), requestId };
    }
    if (session.status !== 'open') throw new SessionClosed();
    // Admission also checks the session (open; in reject mode, idle) under its row lock. The
    // session hears of the request before the reply (RunLauncher.launchNow), so a client's
    // sequential requests reach it in order; one that could not be told now (Temporal down) is
    // started by the outbox relay, which tells the session then, in admission order.
    const started = await this.deps.starter.start(account, request, { idempotencyKey, session: ids, token });
    return { ...started, requestId };
  }

  async close(session: SessionRow): Promise<void> {
    if (session.status === 'closed') return;
    // Only an open session becomes closing: a close that raced the session's own end must not
    // reopen it as `closing` (it would count against the open-session cap for ever).
    await markSessionClosing(this.deps.db, session.id);
    await this.deps.temporal.workflow
      .getHandle(session.id)
      .signal(closeSessionSignal)
      .catch((err: Error) => {
        if (err.name !== 'WorkflowNotFoundError') throw err;
      });
  }

  /** The session workflow's live queue, or an empty one once it has ended. */
  async state(session: SessionRow): Promise<SessionState> {
    if (session.status === 'closed') return { active: null, queued: [], closing: false, multitask: session.multitask };
    try {
      return await this.deps.temporal.workflow.getHandle(session.id).query(sessionStateQuery);
    } catch {
      return { active: null, queued: [], closing: session.status !== 'open', multitask: session.multitask };
    }
  }
}

function refusalOf(r: SessionCapRefusal): Error {
  if (r.cap === 'open-sessions') return new TooManyOpenSessions(r.max, r.scope);
  const who = r.scope === 'account' ? 'the account' : 'the end user';
  const detail = `${who} already has ${r.active} active runs and sessions preparing a workspace (maximum ${r.max})`;
  return new AdmissionRefused(r.scope === 'account' ? 'too-many-active-runs' : 'too-many-active-runs-for-user', detail, 0, r.balance);
}
