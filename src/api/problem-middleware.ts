import type { Context, Next } from 'koa';
import { isDatabaseUnavailable } from '../db/errors';
import type { Logger } from '../logger';
import { problemOfDomainError } from './domain-problems';
import { Problem, problems } from './problem';

/** Errors thrown by body parsing and routing carry a status; map those to stable problems. */
function fromHttpError(err: { status?: number; statusCode?: number; type?: string; message?: string }): Problem | undefined {
  const status = err.status ?? err.statusCode;
  // The router answers a method it knows nowhere (TRACE, …) with 501; for a client that is a 405 like any other.
  if (status === 501) return new Problem(405, 'method-not-allowed', 'Method not allowed', 'this endpoint does not take that method');
  if (!status || status < 400 || status >= 500) return undefined;
  if (status === 413) return new Problem(413, 'payload-too-large', 'Payload too large', 'the request body is over the size limit');
  if (status === 415) return new Problem(415, 'unsupported-media-type', 'Unsupported media type', 'send application/json');
  if (status === 400 && (err.type === 'entity.parse.failed' || /json/i.test(err.message ?? ''))) {
    return new Problem(400, 'malformed-json', 'Malformed JSON', 'the request body is not valid JSON');
  }
  if (status === 405) return new Problem(405, 'method-not-allowed', 'Method not allowed', err.message ?? 'method not allowed');
  return new Problem(status, 'bad-request', 'Bad request', err.message ?? 'bad request');
}

/** The one place where errors become responses: problems as they are, domain errors mapped, anything else a logged 500. */
export function problemMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw problems.notFound('endpoint');
    } catch (err) {
      const byToken = (ctx.state.caller as { kind?: string } | undefined)?.kind === 'token';
      let problem = err instanceof Problem ? err : (problemOfDomainError(err, byToken) ?? fromHttpError(err as Record<string, never>));
      if (!problem && isDatabaseUnavailable(err)) {
        logger.warn({ err: String(err), method: ctx.method, path: ctx.path }, 'database unavailable');
        problem = new Problem(503, 'database-unavailable', 'Database unavailable', 'the database cannot be reached right now; retry shortly');
        ctx.set('Retry-After', '2');
      }
      if (!problem) {
        logger.error({ err, method: ctx.method, path: ctx.path }, 'unhandled error');
        problem = new Problem(500, 'internal-error', 'Internal error', 'an unexpected error occurred; it has been logged');
      }
      ctx.status = problem.status;
      ctx.type = 'application/problem+json';
      ctx.body = problem.body();
    }
  };
}
