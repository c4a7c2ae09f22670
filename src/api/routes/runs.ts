import Router from '@koa/router';
import type { Context } from 'koa';
import { withLiveOutput } from '../../db/run-output';
import { getOwnedRun, listOwnedRuns, softDeleteRun } from '../../db/runs';
import type { RunRow, WorkspaceSpec } from '../../db/schema';
import type { RunStarter, StartedRun } from '../../runs/run-starter';
import { stopRun } from '../../runs/stop-run';
import { discardRunWorkspace } from '../../workspaces/discard';
import { accountOf, requireAccount } from '../auth';
import { decodeCursor, page } from '../cursor';
import type { ApiDeps } from '../deps';
import { idempotencyKeyOf } from '../idempotency-key';
import { problems } from '../problem';
import { runLinks, toRunView } from '../run-view';
import { createRunSchema, listRunsQuerySchema, retryRunSchema } from '../schemas';
import { validate } from '../validate';
import { isTerminal } from '../../../workflows/run-vocabulary';

function accepted(ctx: Context, run: StartedRun): void {
  const links = runLinks(run.id);
  ctx.status = 202;
  ctx.set('Location', links.self);
  ctx.body = { id: run.id, status: run.status, createdAt: run.createdAt, estimate: run.estimate, links };
}

export function runRoutes(deps: ApiDeps, starter: RunStarter): Router {
  const router = new Router({ prefix: '/v1/runs' });
  router.use(requireAccount(deps));

  const ownedRun = async (ctx: Context): Promise<RunRow> => {
    const run = await getOwnedRun(deps.db, accountOf(ctx).id, String(ctx.params.id));
    if (!run) throw problems.notFound('run');
    return run;
  };

  router.post('/', async (ctx) => {
    const body = validate(createRunSchema, ctx.request.body);
    const run = await starter.start(accountOf(ctx), body, { idempotencyKey: idempotencyKeyOf(ctx) });
    accepted(ctx, run);
  });

  router.get('/', async (ctx) => {
    const q = validate(listRunsQuerySchema, ctx.query);
    const rows = await listOwnedRuns(deps.db, accountOf(ctx).id, {
      limit: q.limit,
      beforeSeq: decodeCursor(q.cursor),
      status: q.status,
      sessionId: q.sessionId,
    });
    const { nextCursor } = page(rows, q.limit, (r) => r.seq);
    ctx.body = { data: (await withLiveOutput(deps.db, rows)).map(toRunView), nextCursor };
  });

  router.get('/:id', async (ctx) => {
    const [run] = await withLiveOutput(deps.db, [await ownedRun(ctx)]);
    if (!run) throw problems.notFound('run');
    ctx.body = toRunView(run);
  });

  router.post('/:id/stop', async (ctx) => {
    const run = await ownedRun(ctx);
    const status = await stopRun(deps, run);
    ctx.status = 202;
    ctx.body = { id: run.id, status };
  });

  router.delete('/:id', async (ctx) => {
    const run = await ownedRun(ctx);
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

  router.post('/:id/retry', async (ctx) => {
    const original = await ownedRun(ctx);
    const body = validate(retryRunSchema, ctx.request.body ?? {});
    const request = validate(createRunSchema, {
      prompt: original.prompt,
      model: original.model,
      maxTokens: original.max_tokens,
      workspace: (original.workspace as WorkspaceSpec | null) ?? undefined,
      metadata: original.metadata,
      sessionId: original.session_id ?? undefined,
      secrets: body.secrets,
    });
    const run = await starter.start(accountOf(ctx), request, {
      idempotencyKey: idempotencyKeyOf(ctx),
      retryOf: original.id,
    });
    accepted(ctx, run);
  });

  return router;
}
