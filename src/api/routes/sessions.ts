import Router from '@koa/router';
import type { Context } from 'koa';
import { withLiveOutput } from '../../db/run-output';
import { getSessionRequestRun, getVisibleSession, listVisibleSessions } from '../../db/sessions';
import type { RunRow, SessionRow, WorkspaceSpec } from '../../db/schema';
import { requestIdOf, type SessionService } from '../../sessions/session-service';
import { isTerminal } from '../../../workflows/run-vocabulary';
import type { RunEventHub } from '../../streams/run-event-hub';
import { stopRun } from '../../runs/stop-run';
import { accountOf, allowTokens, endUserFor, tokenSpenderOf, visibilityOf } from '../auth';
import { decodeCursor, page } from '../cursor';
import { serveEventStream } from './events';
import type { ApiDeps } from '../deps';
import { idempotencyKeyOf } from '../idempotency-key';
import { problems } from '../problem';
import { runLinks, toRunView } from '../run-view';
import { createSessionSchema, listSessionsQuerySchema, sessionRequestSchema, type SessionView } from '../schemas';
import { publicAccessToken } from '../public-access';
import { validate } from '../validate';

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

/**
 * Sessions. A scoped token covering the session reads and follows it; `create` (user scope)
 * creates sessions and sends requests; `stop` stops requests and closes the session.
 */
export function sessionRoutes(deps: ApiDeps, sessions: SessionService, hub: RunEventHub): Router {
  const router = new Router({ prefix: '/v1/sessions' });
  const read = allowTokens(deps, 'read');
  const follow = allowTokens(deps, 'read', { query: true });

  const ownedSession = async (ctx: Context): Promise<SessionRow> => {
    const session = await getVisibleSession(deps.db, visibilityOf(ctx), String(ctx.params.id));
    if (!session) throw problems.notFound('session');
    return session;
  };

  /** A request is its run, looked up through the session so another session's id is a 404. */
  const ownedRequest = async (ctx: Context): Promise<RunRow> => {
    const session = await ownedSession(ctx);
    const run = await getSessionRequestRun(deps.db, session.id, String(ctx.params.requestId));
    if (!run) throw problems.notFound('request');
    return run;
  };

  router.post('/', allowTokens(deps, 'create'), async (ctx) => {
    const body = validate(createSessionSchema, ctx.request.body ?? {});
    const token = tokenSpenderOf(ctx);
    const request = { ...body, user: endUserFor(ctx, body.user), ...(token ? { metadata: {}, userMetadata: body.metadata } : {}) };
    const session = await sessions.create(accountOf(ctx), request, token);
    ctx.status = 201;
    ctx.set('Location', `/v1/sessions/${session.id}`);
    ctx.body = toSessionView(session, { active: null, queued: [] });
  });

  router.get('/', read, async (ctx) => {
    const q = validate(listSessionsQuerySchema, ctx.query);
    const rows = await listVisibleSessions(deps.db, visibilityOf(ctx), {
      limit: q.limit,
      beforeSeq: decodeCursor(q.cursor),
      status: q.status,
      user: q.user,
    });
    const { nextCursor } = page(rows, q.limit, (r) => r.seq);
    // The live queue is on the session page; a list shows each session's row only.
    ctx.body = { data: rows.map((r) => toSessionView(r, { active: null, queued: [] })), nextCursor };
  });

  router.get('/:id', read, async (ctx) => {
    const session = await ownedSession(ctx);
    ctx.body = toSessionView(session, await sessions.state(session));
  });

  router.delete('/:id', allowTokens(deps, 'stop'), async (ctx) => {
    const session = await ownedSession(ctx);
    await sessions.close(session);
    ctx.status = 202;
    ctx.body = { id: session.id, status: session.status === 'closed' ? 'closed' : 'closing' };
  });

  router.post('/:id/requests', allowTokens(deps, 'create'), async (ctx) => {
    const session = await ownedSession(ctx);
    const body = validate(sessionRequestSchema, ctx.request.body);
    const started = await sessions.submit(accountOf(ctx), session, body, { idempotencyKey: idempotencyKeyOf(ctx), token: tokenSpenderOf(ctx) });
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
  });

  router.get('/:id/requests/:requestId', read, async (ctx) => {
    const [run] = await withLiveOutput(deps.db, [await ownedRequest(ctx)]);
    if (!run) throw problems.notFound('request');
    ctx.body = { requestId: run.request_id, ...toRunView(run) };
  });

  router.get('/:id/requests/:requestId/events', follow, async (ctx) => {
    const run = await ownedRequest(ctx);
    await serveEventStream(deps, hub, ctx, {
      id: run.id,
      lastEventId: Number(run.last_event_id),
      finished: isTerminal(run.status),
      user: run.user_id,
    });
  });

  router.post('/:id/requests/:requestId/stop', allowTokens(deps, 'stop'), async (ctx) => {
    const run = await ownedRequest(ctx);
    const status = await stopRun(deps, run);
    ctx.status = 202;
    ctx.body = { requestId: run.request_id, runId: run.id, status };
  });

  /** The session's own log: `request.completed` for each request, then `session.closed` and `end`. */
  router.get('/:id/events', follow, async (ctx) => {
    const session = await ownedSession(ctx);
    await serveEventStream(deps, hub, ctx, {
      id: session.id,
      lastEventId: Number(session.last_event_id),
      finished: session.status === 'closed',
      user: session.user_id,
    });
  });

  return router;
}
