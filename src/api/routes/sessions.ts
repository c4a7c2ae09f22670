import Router from '@koa/router';
import type { Context } from 'koa';
import { withLiveOutput } from '../../db/run-output';
import { getOwnedSession, getSessionRequestRun } from '../../db/sessions';
import type { RunRow, SessionRow, WorkspaceSpec } from '../../db/schema';
import { requestIdOf, type SessionService } from '../../sessions/session-service';
import { isTerminal } from '../../../workflows/run-vocabulary';
import type { RunEventHub } from '../../streams/run-event-hub';
import { stopRun } from '../../runs/stop-run';
import { accountOf, requireAccount } from '../auth';
import { serveEventStream } from './events';
import type { ApiDeps } from '../deps';
import { idempotencyKeyOf } from '../idempotency-key';
import { problems } from '../problem';
import { runLinks, toRunView } from '../run-view';
import { createSessionSchema, sessionRequestSchema, type SessionView } from '../schemas';
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
    createdAt: row.created_at.toISOString(),
    closedAt: row.closed_at?.toISOString() ?? null,
    activeRequest: state.active ? requestIdOf(state.active) : null,
    queuedRequests: state.queued.map(requestIdOf),
  };
}

export function sessionRoutes(deps: ApiDeps, sessions: SessionService, hub: RunEventHub): Router {
  const router = new Router({ prefix: '/v1/sessions' });
  router.use(requireAccount(deps));

  const ownedSession = async (ctx: Context): Promise<SessionRow> => {
    const session = await getOwnedSession(deps.db, accountOf(ctx).id, String(ctx.params.id));
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

  router.post('/', async (ctx) => {
    const body = validate(createSessionSchema, ctx.request.body ?? {});
    const session = await sessions.create(accountOf(ctx), body);
    ctx.status = 201;
    ctx.set('Location', `/v1/sessions/${session.id}`);
    ctx.body = toSessionView(session, { active: null, queued: [] });
  });

  router.get('/:id', async (ctx) => {
    const session = await ownedSession(ctx);
    ctx.body = toSessionView(session, await sessions.state(session));
  });

  router.delete('/:id', async (ctx) => {
    const session = await ownedSession(ctx);
    await sessions.close(session);
    ctx.status = 202;
    ctx.body = { id: session.id, status: session.status === 'closed' ? 'closed' : 'closing' };
  });

  router.post('/:id/requests', async (ctx) => {
    const session = await ownedSession(ctx);
    const body = validate(sessionRequestSchema, ctx.request.body);
    const started = await sessions.submit(accountOf(ctx), session, body, idempotencyKeyOf(ctx));
    const self = `/v1/sessions/${session.id}/requests/${started.requestId}`;
    ctx.status = 202;
    ctx.set('Location', self);
    ctx.body = {
      requestId: started.requestId,
      runId: started.id,
      status: started.status,
      estimate: started.estimate,
      links: { self, events: `${self}/events`, run: runLinks(started.id).self },
    };
  });

  router.get('/:id/requests/:requestId', async (ctx) => {
    const [run] = await withLiveOutput(deps.db, [await ownedRequest(ctx)]);
    if (!run) throw problems.notFound('request');
    ctx.body = { requestId: run.request_id, ...toRunView(run) };
  });

  router.get('/:id/requests/:requestId/events', async (ctx) => {
    const run = await ownedRequest(ctx);
    await serveEventStream(deps, hub, ctx, {
      id: run.id,
      lastEventId: Number(run.last_event_id),
      finished: isTerminal(run.status),
    });
  });

  router.post('/:id/requests/:requestId/stop', async (ctx) => {
    const run = await ownedRequest(ctx);
    const status = await stopRun(deps, run);
    ctx.status = 202;
    ctx.body = { requestId: run.request_id, runId: run.id, status };
  });

  /** The session's own log: `request.completed` for each request, then `session.closed` and `end`. */
  router.get('/:id/events', async (ctx) => {
    const session = await ownedSession(ctx);
    await serveEventStream(deps, hub, ctx, {
      id: session.id,
      lastEventId: Number(session.last_event_id),
      finished: session.status === 'closed',
    });
  });

  return router;
}
