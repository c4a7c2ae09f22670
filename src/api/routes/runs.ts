import type { Context } from 'koa';
import { z } from 'zod';
import { withLiveOutput } from '../../db/run-output';
import { getVisibleRun, listVisibleRuns, softDeleteRun } from '../../db/runs';
import { listRunSteps } from '../../db/run-steps';
import type { RunRow, WorkspaceSpec } from '../../db/schema';
import type { StartedRun } from '../../runs/run-starter';
import { stopRun } from '../../runs/stop-run';
import { discardRunWorkspace } from '../../workspaces/discard';
import { accountOf, endUserFor, tokenSpenderOf, visibilityOf } from '../auth';
import { decodeCursor, page } from '../cursor';
import type { ApiDeps } from '../deps';
import { endpoint } from '../endpoint';
import { idempotencyKeyHeader, idempotencyKeyOf } from '../idempotency-key';
import { json } from '../openapi-parts';
import { problems } from '../problem';
import { publicAccessToken } from '../public-access';
import { runLinks, toRunStepView, toRunView } from '../run-view';
import { createRunSchema, listRunsQuerySchema, listStepsQuerySchema, pageOf, retryRunSchema, runAcceptedSchema, runSchema, runStepSchema } from '../schemas';
import { validate } from '../validate';
import { isTerminal } from '../../../workflows/run-vocabulary';

async function accepted(deps: ApiDeps, ctx: Context, run: StartedRun): Promise<void> {
  const links = runLinks(run.id);
  const token = await publicAccessToken(deps, accountOf(ctx), run.id);
  ctx.status = 202;
  ctx.set('Location', links.self);
  ctx.body = { id: run.id, status: run.status, createdAt: run.createdAt, estimate: run.estimate, links, publicAccessToken: token };
}

/** The run the caller may see (its account's, within a token's scope), else a 404. */
export async function visibleRun(deps: ApiDeps, ctx: Context, id: string): Promise<RunRow> {
  const run = await getVisibleRun(deps.db, visibilityOf(ctx), id);
  if (!run) throw problems.notFound('run');
  return run;
}

/**
 * Runs. Reading, listing and following take a scoped token too (within its scope), stopping a
 * token with `stop`, creating a user-scoped token with `create`; deleting and retrying need the key.
 */
export const runEndpoints = [
  endpoint({
    method: 'post', path: '/v1/runs', summary: 'Start a run (answers before any AI work)', auth: { token: 'create' },
    headers: idempotencyKeyHeader, body: createRunSchema,
    responses: { 202: json(runAcceptedSchema, 'Admitted: credits reserved, work queued') },
    problems: {
      400: 'Invalid input or unknown model',
      402: 'The estimate exceeds the available balance (insufficient-credits), or a token\'s budget (budget-exceeded, scope token or user)',
      404: 'No such session (sessionId of another account, or unknown)',
      409: 'Idempotency-Key reused with another body',
      429: 'Too many active runs: the account\'s cap (scope "account") or the end user\'s (scope "user")',
    },
    async handle({ ctx, deps, starter, body }) {
      const input = body();
      // A token's holder is not the tenant: what it writes as metadata is stored and sent apart.
      const token = tokenSpenderOf(ctx);
      const request = { ...input, user: endUserFor(ctx, input.user), ...(token ? { metadata: {}, userMetadata: input.metadata } : {}) };
      const run = await starter.start(accountOf(ctx), request, { idempotencyKey: idempotencyKeyOf(ctx), token });
      await accepted(deps, ctx, run);
    },
  }),
  endpoint({
    method: 'get', path: '/v1/runs', summary: 'The caller\'s runs, newest first', auth: { token: 'read' },
    query: listRunsQuerySchema,
    responses: { 200: json(pageOf(runSchema), 'A page of runs (a token: those in its scope)') },
    async handle({ ctx, deps, query }) {
      const q = query();
      const rows = await listVisibleRuns(deps.db, visibilityOf(ctx), {
        limit: q.limit,
        beforeSeq: decodeCursor(q.cursor),
        status: q.status,
        sessionId: q.sessionId,
        user: q.user,
      });
      const { nextCursor } = page(rows, q.limit, (r) => r.seq);
      ctx.body = { data: (await withLiveOutput(deps.db, rows)).map(toRunView), nextCursor };
    },
  }),
  endpoint({
    method: 'get', path: '/v1/runs/{id}', summary: 'One run', auth: { token: 'read' },
    responses: { 200: json(runSchema, 'The run') },
    problems: { 404: 'No such run (or outside the token\'s scope)' },
    async handle({ ctx, deps, params }) {
      const [run] = await withLiveOutput(deps.db, [await visibleRun(deps, ctx, params.id)]);
      if (!run) throw problems.notFound('run');
      ctx.body = toRunView(run);
    },
  }),
  endpoint({
    method: 'get', path: '/v1/runs/{id}/steps', summary: 'An agent run\'s transcript: its model turns and tool calls, oldest first', auth: { token: 'read' },
    query: listStepsQuerySchema,
    responses: { 200: json(pageOf(runStepSchema), 'A page of steps (none for a plain run)') },
    problems: { 404: 'No such run (or outside the token\'s scope)' },
    async handle({ ctx, deps, params, query }) {
      const q = query();
      const run = await visibleRun(deps, ctx, params.id);
      const rows = await listRunSteps(deps.db, run.id, decodeCursor(q.cursor) ?? -1, q.limit);
      const { nextCursor } = page(rows, q.limit, (r) => r.index);
      ctx.body = { data: rows.map(toRunStepView), nextCursor };
    },
  }),
  endpoint({
    method: 'post', path: '/v1/runs/{id}/stop', summary: 'Stop a run', auth: { token: 'stop' },
    responses: {
      202: json(z.object({ id: z.string(), status: z.enum(['stopping', 'stopped']) }), 'Stopping (or stopped at once, when its workflow had not started yet)'),
    },
    problems: { 409: 'The run has already ended' },
    async handle({ ctx, deps, params }) {
      const run = await visibleRun(deps, ctx, params.id);
      const status = await stopRun(deps, run);
      ctx.status = 202;
      ctx.body = { id: run.id, status };
    },
  }),
  endpoint({
    method: 'delete', path: '/v1/runs/{id}', summary: 'Delete an ended run', auth: 'account',
    responses: { 204: { description: 'Deleted' } },
    problems: { 409: 'The run is still active' },
    async handle({ ctx, deps, params }) {
      const run = await visibleRun(deps, ctx, params.id);
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
    },
  }),
  endpoint({
    method: 'post', path: '/v1/runs/{id}/retry', summary: 'Start a new run with the same input', auth: 'account',
    headers: idempotencyKeyHeader, body: retryRunSchema, bodyOptional: true,
    responses: { 202: json(runAcceptedSchema, 'Admitted') },
    problems: {
      402: 'Insufficient credits',
      409: 'Idempotency-Key reused with another body, or the run\'s session is closed or busy',
      429: 'Too many active runs (account or end user)',
    },
    async handle({ ctx, deps, starter, params, body }) {
      const original = await visibleRun(deps, ctx, params.id);
      const { secrets } = body();
      const request = validate(createRunSchema, {
        prompt: original.prompt,
        model: original.model,
        maxTokens: original.max_tokens,
        workspace: (original.workspace as WorkspaceSpec | null) ?? undefined,
        metadata: original.metadata,
        sessionId: original.session_id ?? undefined,
        user: original.user_id ?? undefined,
        secrets,
        // An agent run's tools again; its MCP servers' headers were sealed to the original run.
        ...(original.tools ? { tools: original.tools.map((t) => (t.type === 'workspace' ? t.name : t)), maxSteps: original.max_steps ?? undefined } : {}),
      });
      const run = await starter.start(accountOf(ctx), { ...request, userMetadata: original.user_metadata ?? undefined }, {
        idempotencyKey: idempotencyKeyOf(ctx),
        retryOf: original.id,
      });
      await accepted(deps, ctx, run);
    },
  }),
];
