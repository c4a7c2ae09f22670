import Koa from 'koa';
import { RunStarter } from '../runs/run-starter';
import { jsonBody } from './body';
import { consoleFiles, CONSOLE_DIR } from './console';
import { corsFor } from './cors';
import { inputGuard } from './input-guard';
import { httpMetrics } from './metrics';
import { readGaugesFrom } from '../metrics/metrics';
import { countActiveRuns } from '../db/runs';
import { runStartBacklog } from '../db/run-starts';
import type { ApiDeps } from './deps';
import { routerOf } from './endpoint';
import { ENDPOINTS } from './endpoints';
import { buildOpenApiDocument } from './openapi';
import { problemMiddleware } from './problem-middleware';
import { SessionService } from '../sessions/session-service';
import { WebhookService } from '../webhooks/service';

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
    agents: deps.config.agents,
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

  const router = routerOf(ENDPOINTS, { deps, starter, sessions, webhooks, openapi: buildOpenApiDocument(ENDPOINTS) });
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  return app;
}
