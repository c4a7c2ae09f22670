import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { findAccountByApiKey } from '../db/accounts';
import type { AccountRow } from '../db/schema';
import type { ApiDeps } from './deps';
import { problems } from './problem';

function bearerOf(ctx: Context): string | undefined {
  const header = ctx.get('authorization');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Resolves the bearer API key to its account, or answers 401. */
export function requireAccount(deps: ApiDeps) {
  return async (ctx: Context, next: Next) => {
    const key = bearerOf(ctx);
    if (!key) throw problems.unauthorized();
    const account = await findAccountByApiKey(deps.db, key);
    if (!account) throw problems.unauthorized('the API key is not valid');
    ctx.state.account = account;
    await next();
  };
}

export function requireAdmin(deps: ApiDeps) {
  return async (ctx: Context, next: Next) => {
    const token = bearerOf(ctx);
    if (!token || !sameSecret(token, deps.adminToken)) throw problems.unauthorized('the admin token is required');
    await next();
  };
}

export function accountOf(ctx: Context): AccountRow {
  const account = ctx.state.account as AccountRow | undefined;
  if (!account) throw problems.unauthorized();
  return account;
}
