import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { Problem } from './problem';

function hasBody(ctx: Context): boolean {
  const length = ctx.get('content-length');
  if (length) return Number(length) > 0;
  return Boolean(ctx.get('transfer-encoding'));
}

/**
 * JSON bodies only, at most `limit` bytes: a declared oversize is refused before reading, and a
 * streamed one is cut off at the limit by the parser.
 */
export function jsonBody(limit: number) {
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
      return parse(ctx, next);
    }
    return next();
  };
}
