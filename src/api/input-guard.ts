import type { Context, Next } from 'koa';
import { isUnstorable } from '../text';
import { problems } from './problem';

/** Deeper JSON than this is refused: nothing Runway accepts needs it, and walking it costs stack. */
export const MAX_JSON_DEPTH = 32;

interface Finding {
  path: string;
  message: string;
}

/**
 * PostgreSQL text and jsonb refuse NUL, and a lone UTF-16 surrogate is not text at all, so
 * either would fail deep inside a transaction (or, worse, a workflow's first activity). They are
 * refused here, with the field that holds them, before anything is started.
 */
function unsafeText(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain NUL characters';
  if (isUnstorable(text)) return 'must be valid Unicode (no lone surrogates)';
  return null;
}

function join(path: string, key: string | number): string {
  return path ? `${path}.${key}` : String(key);
}

function findUnsafe(value: unknown, path: string, depth: number): Finding | null {
  if (typeof value === 'string') {
    const message = unsafeText(value);
    return message ? { path, message } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_JSON_DEPTH) return { path, message: `must be nested at most ${MAX_JSON_DEPTH} levels deep` };
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  for (const [key, item] of entries) {
    const keyMessage = typeof key === 'string' ? unsafeText(key) : null;
    if (keyMessage) return { path: join(path, key), message: `key ${keyMessage}` };
    const found = findUnsafe(item, join(path, key), depth + 1);
    if (found) return found;
  }
  return null;
}

function decodedPath(ctx: Context): string | null {
  try {
    return decodeURIComponent(ctx.path);
  } catch {
    return null; // malformed percent-encoding, including encoded lone surrogates
  }
}

/**
 * Runs after the body parser: the path, the query and the JSON body of every request are checked
 * for text PostgreSQL cannot store and for excessive nesting, and refused as a 400
 * `validation-error`.
 */
export function inputGuard() {
  return async (ctx: Context, next: Next) => {
    const path = decodedPath(ctx);
    const found =
      (path === null ? { path: 'path', message: 'must be valid percent-encoded UTF-8' } : null) ??
      findUnsafe(path, 'path', 0) ??
      findUnsafe(ctx.query, 'query', 0) ??
      findUnsafe((ctx.request as { body?: unknown }).body, '', 0);
    if (found) throw problems.validation([found]);
    return next();
  };
}
