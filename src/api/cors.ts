import cors from '@koa/cors';
import type { Context, Middleware } from 'koa';

/** Request headers a browser page may send: credentials, JSON bodies, stream resumption, safe retries. */
const ALLOW_HEADERS = ['Authorization', 'Content-Type', 'Last-Event-ID', 'Idempotency-Key'];
/** Where a created run or session lives; readable by page scripts only when exposed. */
const EXPOSE_HEADERS = ['Location'];
const PREFLIGHT_CACHE_SECONDS = 600;

/**
 * CORS for the configured origins only (`RUNWAY_CORS_ORIGINS`; none by default). Any other
 * origin gets no CORS headers, so its pages cannot read responses. Browsers send credentials as
 * a bearer header (never cookies), so credentialed CORS stays off, and `*` is safe to allow.
 */
export function corsFor(origins: readonly string[]): Middleware {
  const anyOrigin = origins.includes('*');
  const allowed = new Set(origins);
  return cors({
    origin: (ctx: Context) => {
      const origin = ctx.get('Origin');
      if (anyOrigin) return '*';
      return allowed.has(origin) ? origin : '';
    },
    allowMethods: ['GET', 'POST', 'DELETE'],
    allowHeaders: ALLOW_HEADERS,
    exposeHeaders: EXPOSE_HEADERS,
    maxAge: PREFLIGHT_CACHE_SECONDS,
    credentials: false,
  });
}
