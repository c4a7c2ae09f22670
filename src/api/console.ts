import { existsSync } from 'node:fs';
import path from 'node:path';
import { send } from '@koa/send';
import type { Context, Middleware, Next } from 'koa';
import { PROJECT_ROOT } from '../temporal/cli';
import { Problem, problems } from './problem';

/** Where `npm run build:console` (packages/console, Vite) writes the console. */
export const CONSOLE_DIR = path.join(PROJECT_ROOT, 'packages', 'console', 'dist');
export const CONSOLE_PATH = '/console';

const ONE_YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/**
 * The console's page may load only its own scripts and styles and talk only to this origin: no
 * inline script, no eval, no frames. A credential lives in the page's sessionStorage, so what the
 * page may run is the whole of its protection.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function secureHeaders(ctx: Context): void {
  ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  ctx.set('X-Content-Type-Options', 'nosniff');
  // A `#token=` link's token is in the fragment, which browsers never send; no-referrer also
  // keeps the console's paths out of any request it makes elsewhere.
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
}

const notBuilt = () =>
  new Problem(503, 'console-not-built', 'Console not built', 'the console has not been built: run `npm run build:console` (npm install runs it)');

function isNotFound(err: unknown): boolean {
  const status = (err as { status?: number }).status;
  return status === 404;
}

/** Hashed files under assets/ never change: cached for a year. A missing one is a plain 404. */
async function sendAsset(ctx: Context, root: string, file: string): Promise<void> {
  try {
    await send(ctx, file, { root, maxage: ONE_YEAR_MS, immutable: true, index: false });
  } catch (err) {
    if (isNotFound(err)) throw problems.notFound('console file');
    throw err;
  }
}

/**
 * index.html is revalidated on every load (it names the current assets). A path that is not a
 * file (a deep link) gets index.html too: the console routes itself.
 */
async function sendPage(ctx: Context, root: string, file: string): Promise<void> {
  if (file !== '' && file !== 'index.html') {
    try {
      await send(ctx, file, { root, index: false, setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') });
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  await send(ctx, 'index.html', { root, setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') });
}

/**
 * Serves the built console under /console (not part of the API's OpenAPI document). Files are
 * served by @koa/send, which refuses paths outside `root`; when the build is missing, a 503 says
 * how to build it.
 */
export function consoleFiles(root: string = CONSOLE_DIR): Middleware {
  const index = path.join(root, 'index.html');
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== CONSOLE_PATH && !ctx.path.startsWith(`${CONSOLE_PATH}/`)) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      throw new Problem(405, 'method-not-allowed', 'Method not allowed', 'the console is read with GET');
    }
    if (ctx.path === CONSOLE_PATH) {
      ctx.redirect(`${CONSOLE_PATH}/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
      return;
    }
    if (!existsSync(index)) throw notBuilt();
    secureHeaders(ctx);
    const file = ctx.path.slice(CONSOLE_PATH.length + 1);
    if (file.startsWith('assets/')) await sendAsset(ctx, root, file);
    else await sendPage(ctx, root, file);
  };
}
