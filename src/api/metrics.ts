import type { Middleware } from 'koa';
import { metrics, registry } from '../metrics/metrics';
import { bearerMatches } from '../metrics/metrics-server';
import { endpoint } from './endpoint';
import { problems } from './problem';

/** Route templates (as @koa/router names them) whose duration is a latency Runway promises on. */
const TIMED_ROUTES: Record<string, keyof Pick<typeof metrics, 'admissionSeconds' | 'stopSeconds'>> = {
  'POST /v1/runs': 'admissionSeconds',
  'POST /v1/sessions/:id/requests': 'admissionSeconds',
  'POST /v1/runs/:id/stop': 'stopSeconds',
  'POST /v1/sessions/:id/requests/:requestId/stop': 'stopSeconds',
};

/**
 * Counts every answered request by route template (never the raw path: ids would make a series
 * per run), and times admissions and stops. Event streams are counted when they end.
 */
export function httpMetrics(): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      metrics.httpRequests.inc({ method: ctx.method, route, status: String(ctx.status) });
      const timed = TIMED_ROUTES[`${ctx.method} ${route}`];
      if (timed) metrics[timed].observe((performance.now() - started) / 1000);
    }
  };
}

/**
 * GET /metrics in Prometheus' text format, for the bearer of RUNWAY_METRICS_TOKEN when it is set.
 * In production the API's port is public: without a token the figures (every account's activity)
 * are not served at all.
 */
export const metricsEndpoint = endpoint({
  method: 'get', path: '/metrics', summary: 'Prometheus metrics', auth: 'none', internal: true,
  async handle({ ctx, deps }) {
    const { token } = deps.config.metrics;
    if (!token && deps.config.env === 'production') throw problems.notFound();
    if (token && !bearerMatches(ctx.get('authorization'), token)) {
      throw problems.unauthorized('the metrics need the bearer token set in RUNWAY_METRICS_TOKEN');
    }
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  },
});
