import Router from '@koa/router';
import type { Context } from 'koa';
import { withLiveOutput } from '../../db/run-output';
import { getVisibleRun, listVisibleRuns, softDeleteRun } from '../../db/runs';
import type { RunRow, WorkspaceSpec } from '../../db/schema';
import type { RunStarter, StartedRun } from '../../runs/run-starter';
import { stopRun } from '../../runs/stop-run';
import { discardRunWorkspace } from '../../workspaces/discard';
import { accountOf, allowTokens, endUserFor, requireAccount, tokenSpenderOf, visibilityOf } from '../auth';
import { decodeCursor, page } from '../cursor';
import type { ApiDeps } from '../deps';
import { idempotencyKeyOf } from '../idempotency-key';
import { problems } from '../problem';
import { publicAccessToken } from '../public-access';
import { runLinks, toRunView } from '../run-view';
import { createRunSchema, listRunsQuerySchema, retryRunSchema } from '../schemas';
import { validate } from '../validate';
import { isTerminal } from '../../../workflows/run-vocabulary';

async function accepted(deps: ApiDeps, ctx: Context, run: StartedRun): Promise<void> {
  const links = runLinks(run.id);
  const token = await publicAccessToken(deps, accountOf(ctx), run.id);
  ctx.status = 202;
  ctx.set('Location', links.self);
  ctx.body = { id: run.id, status: run.status, createdAt: run.createdAt, estimate: run.estimate, links, publicAccessToken: token };
}

/**
 * Runs. Reading, listing and following take a scoped token too (within its scope), stopping a
 * token with `stop`, creating a user-scoped token with `create`; deleting and retrying need the key.
 */
export function runRoutes(deps: ApiDeps, starter: RunStarter): Router {
  const router = new Router({ prefix: '/v1/runs' });

  const visibleRun = async (ctx: Context): Promise<RunRow> => {
    const run = await getVisibleRun(deps.db, visibilityOf(ctx), String(ctx.params.id));
    if (!run) throw problems.notFound('run');
    return run;
  };

  router.post('/', allowTokens(deps, 'create'), async (ctx) => {
    const body = validate(createRunSchema, ctx.request.body);
    // A token's holder is not the tenant: what it writes as metadata is stored and sent apart.
    const token = tokenSpenderOf(ctx);
    const request = { ...body, user: endUserFor(ctx, body.user), ...(token ? { metadata: {}, userMetadata: body.metadata } : {}) };
    const run = await starter.start(accountOf(ctx), request, { idempotencyKey: idempotencyKeyOf(ctx), token });
    await accepted(deps, ctx, run);
  });

  router.get('/', allowTokens(deps, 'read'), async (ctx) => {
    const q = validate(listRunsQuerySchema, ctx.query);
    const rows = await listVisibleRuns(deps.db, visibilityOf(ctx), {
      limit: q.limit,
      beforeSeq: decodeCursor(q.cursor),
      status: q.status,
      sessionId: q.sessionId,
      user: q.user,
    });
    const { nextCursor } = page(rows, q.limit, (r) => r.seq);
    ctx.body = { data: (await withLiveOutput(deps.db, rows)).map(toRunView), nextCursor };
  });

  router.get('/:id', allowTokens(deps, 'read'), async (ctx) => {
    const [run] = await withLiveOutput(deps.db, [await visibleRun(ctx)]);
    if (!run) throw problems.notFound('run');
    ctx.body = toRunView(run);
  });

  router.post('/:id/stop', allowTokens(deps, 'stop'), async (ctx) => {
    const run = await visibleRun(ctx);
    const status = await stopRun(deps, run);
    ctx.status = 202;
    ctx.body = { id: run.id, status };
  });

  router.delete('/:id', requireAccount(deps), async (ctx) => {
    const run = await visibleRun(ctx);
    if (!isTerminal(run.status) || !(await softDeleteRun(deps.db, run.id))) {
      throw problems.conflict('run-active', 'stop the run and wait for it to end before deleting it');
    }
    if (run.workspace_path) {
      // A kept workspace goes with its run (where the API shares the workers' disk, as with npm start).
      await discardRunWorkspace(deps.db, deps.config.workspacesDir, run.id).catch((err: unknown) =>
        deps.logger.warn({ err, runId: run.id }, 'kept workspace not removed'),
      );
    }
    ctx.status = 204;
  });

  router.post('/:id/retry', requireAccount(deps), async (ctx) => {
    const original = await visibleRun(ctx);
    const body = validate(retryRunSchema, ctx.request.body ?? {});
    const request = validate(createRunSchema, {
      prompt: original.prompt,
      model: original.model,
      maxTokens: original.max_tokens,
      workspace: (original.workspace as WorkspaceSpec | null) ?? undefined,
      metadata: original.metadata,
      sessionId: original.session_id ?? undefined,
      user: original.user_id ?? undefined,
      secrets: body.secrets,
    });
    const run = await starter.start(accountOf(ctx), { ...request, userMetadata: original.user_metadata ?? undefined }, {
      idempotencyKey: idempotencyKeyOf(ctx),
      retryOf: original.id,
    });
    await accepted(deps, ctx, run);
  });

  return router;
}
