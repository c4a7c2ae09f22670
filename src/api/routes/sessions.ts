import type { Context } from 'koa';
import { z } from 'zod';
import { withLiveOutput } from '../../db/run-output';
import { getSessionRequestRun, getVisibleSession, listVisibleSessions } from '../../db/sessions';
import type { RunRow, SessionRow, WorkspaceSpec } from '../../db/schema';
import { requestIdOf } from '../../sessions/session-service';
import { stopRun } from '../../runs/stop-run';
import { accountOf, endUserFor, tokenSpenderOf, visibilityOf } from '../auth';
import { decodeCursor, page } from '../cursor';
import { eventStream, serveEventStream, serveRunEvents } from './events';
import type { ApiDeps } from '../deps';
import { endpoint } from '../endpoint';
import { idempotencyKeyHeader, idempotencyKeyOf } from '../idempotency-key';
import { json } from '../openapi-parts';
import { problems } from '../problem';
import { runLinks, toRunView } from '../run-view';
import {
  createSessionSchema,
  listSessionsQuerySchema,
  pageOf,
  runSchema,
  sessionRequestAcceptedSchema,
  sessionRequestSchema,
  sessionSchema,
  type SessionView,
} from '../schemas';
import { publicAccessToken } from '../public-access';

function toSessionView(row: SessionRow, state: { active: string | null; queued: string[] }): SessionView {
  const workspace = row.workspace as WorkspaceSpec | null;
  return {
    id: row.id,
    status: row.status,
    model: row.model,
    maxTokens: row.max_tokens,
    contextTokens: row.context_tokens,
    multitask: row.multitask,
    workspace: workspace ? { ...workspace, path: row.workspace_path } : null,
    metadata: row.metadata as Record<string, unknown>,
    userMetadata: row.user_metadata,
    user: row.user_id,
    createdAt: row.created_at.toISOString(),
    closedAt: row.closed_at?.toISOString() ?? null,
    activeRequest: state.active ? requestIdOf(state.active) : null,
    queuedRequests: state.queued.map(requestIdOf),
  };
}

async function visibleSession(deps: ApiDeps, ctx: Context, id: string): Promise<SessionRow> {
  const session = await getVisibleSession(deps.db, visibilityOf(ctx), id);
  if (!session) throw problems.notFound('session');
  return session;
}

/** A request is its run, looked up through the session so another session's id is a 404. */
async function visibleRequest(deps: ApiDeps, ctx: Context, ids: { id: string; requestId: string }): Promise<RunRow> {
  const session = await visibleSession(deps, ctx, ids.id);
  const run = await getSessionRequestRun(deps.db, session.id, ids.requestId);
  if (!run) throw problems.notFound('request');
  return run;
}

/**
 * Sessions. A scoped token covering the session reads and follows it; `create` (user scope)
 * creates sessions and sends requests; `stop` stops requests and closes the session.
 */
export const sessionEndpoints = [
  endpoint({
    method: 'post', path: '/v1/sessions', summary: 'Create a session', auth: { token: 'create' },
    body: createSessionSchema, bodyOptional: true,
    responses: { 201: json(sessionSchema, 'Created') },
    problems: {
      400: 'Invalid input or unknown model',
      429: 'Too many open sessions (too-many-open-sessions, scope "account" or "user"), or, for a session with a workspace, too many active runs: a preparing session counts as one (too-many-active-runs)',
    },
    async handle({ ctx, sessions, body }) {
      const input = body();
      const token = tokenSpenderOf(ctx);
      const request = { ...input, user: endUserFor(ctx, input.user), ...(token ? { metadata: {}, userMetadata: input.metadata } : {}) };
      const session = await sessions.create(accountOf(ctx), request, token);
      ctx.status = 201;
      ctx.set('Location', `/v1/sessions/${session.id}`);
      ctx.body = toSessionView(session, { active: null, queued: [] });
    },
  }),
  endpoint({
    method: 'get', path: '/v1/sessions', summary: 'The caller\'s sessions, newest first', auth: { token: 'read' },
    query: listSessionsQuerySchema,
    responses: { 200: json(pageOf(sessionSchema), 'A page of sessions (a token: those in its scope)') },
    async handle({ ctx, deps, query }) {
      const q = query();
      const rows = await listVisibleSessions(deps.db, visibilityOf(ctx), {
        limit: q.limit,
        beforeSeq: decodeCursor(q.cursor),
        status: q.status,
        user: q.user,
      });
      const { nextCursor } = page(rows, q.limit, (r) => r.seq);
      // The live queue is on the session page; a list shows each session's row only.
      ctx.body = { data: rows.map((r) => toSessionView(r, { active: null, queued: [] })), nextCursor };
    },
  }),
  endpoint({
    method: 'get', path: '/v1/sessions/{id}', summary: 'One session with its queue', auth: { token: 'read' },
    responses: { 200: json(sessionSchema, 'The session') },
    problems: { 404: 'No such session' },
    async handle({ ctx, deps, sessions, params }) {
      const session = await visibleSession(deps, ctx, params.id);
      ctx.body = toSessionView(session, await sessions.state(session));
    },
  }),
  endpoint({
    method: 'delete', path: '/v1/sessions/{id}', summary: 'Close a session: stop its work, refund its queue', auth: { token: 'stop' },
    responses: { 202: json(z.object({ id: z.string(), status: z.enum(['closing', 'closed']) }), 'Closing') },
    problems: { 404: 'No such session' },
    async handle({ ctx, deps, sessions, params }) {
      const session = await visibleSession(deps, ctx, params.id);
      await sessions.close(session);
      ctx.status = 202;
      ctx.body = { id: session.id, status: session.status === 'closed' ? 'closed' : 'closing' };
    },
  }),
  endpoint({
    method: 'post', path: '/v1/sessions/{id}/requests', summary: 'Send a request (answers at once)', auth: { token: 'create' },
    headers: idempotencyKeyHeader, body: sessionRequestSchema,
    responses: { 202: json(sessionRequestAcceptedSchema, 'Admitted and queued') },
    problems: {
      402: 'Insufficient credits, or a token\'s budget exceeded (budget-exceeded)',
      409: 'Session busy (reject mode) or closed',
      429: 'Too many active runs (account or end user)',
    },
    async handle({ ctx, deps, sessions, params, body }) {
      const session = await visibleSession(deps, ctx, params.id);
      const started = await sessions.submit(accountOf(ctx), session, body(), { idempotencyKey: idempotencyKeyOf(ctx), token: tokenSpenderOf(ctx) });
      const self = `/v1/sessions/${session.id}/requests/${started.requestId}`;
      ctx.status = 202;
      ctx.set('Location', self);
      ctx.body = {
        requestId: started.requestId,
        runId: started.id,
        status: started.status,
        estimate: started.estimate,
        links: { self, events: `${self}/events`, run: runLinks(started.id).self },
        publicAccessToken: await publicAccessToken(deps, accountOf(ctx), started.id),
      };
    },
  }),
  endpoint({
    method: 'get', path: '/v1/sessions/{id}/requests/{requestId}', summary: 'One request (its run)', auth: { token: 'read' },
    responses: { 200: json(runSchema.extend({ requestId: z.string() }), 'The request') },
    problems: { 404: 'No such request' },
    async handle({ ctx, deps, params }) {
      const [run] = await withLiveOutput(deps.db, [await visibleRequest(deps, ctx, params)]);
      if (!run) throw problems.notFound('request');
      ctx.body = { requestId: run.request_id, ...toRunView(run) };
    },
  }),
  endpoint({
    method: 'post', path: '/v1/sessions/{id}/requests/{requestId}/stop', summary: 'Stop one request', auth: { token: 'stop' },
    responses: {
      202: json(
        z.object({ requestId: z.string(), runId: z.string(), status: z.enum(['stopping', 'stopped']) }),
        'Stopping (or stopped at once, when its workflow had not started yet)',
      ),
    },
    problems: { 409: 'Already ended' },
    async handle({ ctx, deps, params }) {
      const run = await visibleRequest(deps, ctx, params);
      const status = await stopRun(deps, run);
      ctx.status = 202;
      ctx.body = { requestId: run.request_id, runId: run.id, status };
    },
  }),
  endpoint({
    ...eventStream,
    path: '/v1/sessions/{id}/requests/{requestId}/events',
    summary: 'A request\'s events',
    async handle({ ctx, deps, params }) {
      await serveRunEvents(deps, ctx, await visibleRequest(deps, ctx, params));
    },
  }),
  /** The session's own log: `request.completed` for each request, then `session.closed` and `end`. */
  endpoint({
    ...eventStream,
    path: '/v1/sessions/{id}/events',
    summary: 'The session\'s own events (request.completed, session.closed)',
    async handle({ ctx, deps, params }) {
      const session = await visibleSession(deps, ctx, params.id);
      await serveEventStream(deps, ctx, {
        id: session.id,
        lastEventId: Number(session.last_event_id),
        finished: session.status === 'closed',
        user: session.user_id,
      });
    },
  }),
];
