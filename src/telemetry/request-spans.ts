import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context as KoaContext, Middleware } from 'koa';

const tracer = trace.getTracer('runway-api');

/** The route pattern @koa/router matched (`/v1/runs/:id`), if any. */
function routeOf(ctx: KoaContext): string | undefined {
  const route = (ctx as KoaContext & { _matchedRoute?: unknown })._matchedRoute;
  return typeof route === 'string' ? route : undefined;
}

/**
 * One server span per request, continuing the caller's `traceparent` if it sent one. Named by
 * its route, not its path (ids would make every name unique), and it records no URL, query or
 * header: an event stream's `?access_token=` and every Authorization header stay out of traces.
 * Everything the request does (admission, the workflow start) runs inside this span.
 */
export function requestSpans(): Middleware {
  return async (ctx, next) => {
    const parent = propagation.extract(context.active(), ctx.headers);
    const span = tracer.startSpan(ctx.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': ctx.method } }, parent);
    try {
      await context.with(trace.setSpan(parent, span), next);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      const route = routeOf(ctx);
      if (route) span.updateName(`${ctx.method} ${route}`).setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', ctx.status);
      if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}
