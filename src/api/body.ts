import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { Problem } from './problem';

function hasBody(ctx: Context): boolean {
  const length = ctx.get('content-length');
  if (length) return Number(length) > 0;
  return Boolean(ctx.get('transfer-encoding'));
}

/**
 * JSON bodies only, at most `limit` bytes and within `timeoutMs`: a declared oversize is refused
 * before reading, a streamed one is cut off at the limit by the parser, and one that has not
 * arrived by the deadline is answered 408 and its connection closed. Bodies are read before
 * authentication, so without the deadline anyone could hold a connection (and a parser) open
 * for as long as they trickle bytes.
 */
export function jsonBody(limit: number, timeoutMs: number) {
  const parse = bodyParser({
    enableTypes: ['json'],
    jsonLimit: limit,
    jsonStrict: true,
    onError: (err) => {
      const status = (err as { status?: number }).status;
      if (status === 413) throw new Problem(413, 'payload-too-large', 'Payload too large', `the body is over ${limit} bytes`);
      throw new Problem(400, 'malformed-json', 'Malformed JSON', 'the request body is not valid JSON');
    },
  });
  return async (ctx: Context, next: Next) => {
    if (['POST', 'PUT', 'PATCH'].includes(ctx.method) && hasBody(ctx)) {
      if (!ctx.is('application/json', 'application/*+json')) {
        throw new Problem(415, 'unsupported-media-type', 'Unsupported media type', 'the body must be application/json');
      }
      const declared = Number(ctx.get('content-length') || 0);
      if (declared > limit) {
        throw new Problem(413, 'payload-too-large', 'Payload too large', `the body is over ${limit} bytes`);
      }
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // The rest of the body may never come: answer, then close rather than wait to drain it.
          ctx.set('Connection', 'close');
          ctx.req.once('error', () => undefined); // the parser's own read ends with the socket
          reject(new Problem(408, 'request-timeout', 'Request timeout', `the request body did not arrive within ${timeoutMs} ms`));
        }, timeoutMs);
      });
      try {
        // Parsed with a no-op `next`: the routes run below, only if the body came in time.
        await Promise.race([parse(ctx, async () => undefined), deadline]);
      } finally {
        clearTimeout(timer);
      }
      return next();
    }
    return next();
  };
}
