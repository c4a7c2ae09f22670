import Router from '@koa/router';
import Koa from 'koa';
import { RunStarter } from '../runs/run-starter';
import { jsonBody } from './body';
import { consoleFiles, CONSOLE_DIR } from './console';
import { corsFor } from './cors';
import { inputGuard } from './input-guard';
import { httpMetrics, metricsRoutes } from './metrics';
import { readGaugesFrom } from '../metrics/metrics';
import { countActiveRuns } from '../db/runs';
import { runStartBacklog } from '../db/run-starts';
import type { ApiDeps } from './deps';
import { buildOpenApiDocument } from './openapi';
import { problemMiddleware } from './problem-middleware';
import { accountRoutes } from './routes/account';
import { adminRoutes } from './routes/admin';
import { eventRoutes } from './routes/events';
import { healthRoutes } from './routes/health';
import { runRoutes } from './routes/runs';
import { sessionRoutes } from './routes/sessions';
import { SessionService } from '../sessions/session-service';
import { WebhookService } from '../webhooks/service';
import { webhookRoutes } from './routes/webhooks';
import { tokenRoutes } from './routes/tokens';

/** Admission as the API does it, for these dependencies. */
export function createRunStarter(deps: ApiDeps): RunStarter {
  return new RunStarter({
    db: deps.db,
    launcher: deps.launcher,
    prices: deps.prices,
    providers: deps.providers,
    secretsKey: deps.secretsKey,
    maxActiveRuns: deps.config.maxActiveRuns,
    maxActiveRunsPerUser: deps.config.maxActiveRunsPerUser,
    workspaces: deps.config.workspaces,
  });
}

export interface AppOptions {
  /** The built console served at /console (default packages/console/dist). */
  consoleDir?: string;
}

/** The HTTP API: maps requests onto the run, account and stream modules, and nothing else; and the console's files. */
export function createApp(deps: ApiDeps, options: AppOptions = {}): Koa {
  const app = new Koa();
  app.proxy = false;
  const starter = createRunStarter(deps);
  const sessions = new SessionService({
    db: deps.db,
    temporal: deps.temporal,
    starter,
    taskQueue: deps.config.temporal.taskQueue,
    maxOpenSessions: deps.config.maxOpenSessions,
    maxOpenSessionsPerUser: deps.config.maxOpenSessionsPerUser,
    idleTimeoutMs: deps.config.sessionIdleTimeoutMs,
    maxActiveRuns: deps.config.maxActiveRuns,
    maxActiveRunsPerUser: deps.config.maxActiveRunsPerUser,
    workspaces: deps.config.workspaces,
  });
  // The database-wide gauges come from the API (any one of them: the values are the deployment's).
  readGaugesFrom({ activeRuns: () => countActiveRuns(deps.db), outbox: () => runStartBacklog(deps.db) });
  if (deps.config.env === 'production' && !deps.config.metrics.token) {
    deps.logger.warn('GET /metrics is off: set RUNWAY_METRICS_TOKEN to serve it (the worker\'s metrics port is not affected)');
  }
  const webhooks = new WebhookService({ db: deps.db, secretsKey: deps.secretsKey, settings: deps.config.webhooks });

  // First: the request's span covers every other middleware, and the workflow start it leads to.
  if (deps.requestSpans) app.use(deps.requestSpans);
  app.use(async (ctx, next) => {
    const started = performance.now();
    await next();
    deps.logger.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) }, 'request');
  });
  app.use(httpMetrics());
  app.use(corsFor(deps.config.corsOrigins));
  app.use(problemMiddleware(deps.logger));
  app.use(jsonBody(deps.config.maxBodyBytes, deps.config.bodyTimeoutMs));
  app.use(inputGuard());
  app.use(consoleFiles(options.consoleDir ?? CONSOLE_DIR));

  // One hub per API process (built by apiDepsFor): one LISTEN connection for every event stream it serves.
  const hub = deps.events;
  const openapi = buildOpenApiDocument();
  const root = new Router();
  root.get('/openapi.json', (ctx) => {
    ctx.body = openapi;
  });

  for (const router of [root, metricsRoutes(deps.config.metrics.token, deps.config.env === 'production'), healthRoutes(deps), adminRoutes(deps), accountRoutes(deps), runRoutes(deps, starter), eventRoutes(deps, hub), sessionRoutes(deps, sessions, hub), webhookRoutes(deps, webhooks), tokenRoutes(deps)]) {
    app.use(router.routes());
    app.use(router.allowedMethods({ throw: true }));
  }
  return app;
}
