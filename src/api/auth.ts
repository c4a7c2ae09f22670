import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { findAccount, findAccountByApiKey } from '../db/accounts';
import { sha256Hex } from '../ids';
import type { AccountRow } from '../db/schema';
import type { Visibility } from '../db/visibility';
import { looksLikeScopedToken, type Permission, type TokenGrant } from '../tokens/scoped-tokens';
import type { TokenSpender } from '../runs/token-limits';
import type { ApiDeps } from './deps';
import { Problem, problems } from './problem';

/** Who is calling: the account itself (its API key), or a holder of one of its scoped tokens. */
export type Caller =
  | { kind: 'account'; account: AccountRow }
  /**
   * `tokenId`: the token's unique id (else a digest of it), naming its holder where the scope
   * names no end user, and under which its budget is counted; `expiresAt`: its exp (open streams
   * end there).
   */
  | { kind: 'token'; account: AccountRow; grant: TokenGrant; tokenId: string; expiresAt: Date };

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

async function tokenCaller(deps: ApiDeps, token: string): Promise<Caller> {
  const checked = await deps.tokens.check(token);
  if (!checked.ok) throw problems.unauthorized(checked.reason === 'expired' ? 'the token has expired' : 'the token is not valid');
  const account = await findAccount(deps.db, checked.grant.accountId);
  if (!account) throw problems.unauthorized('the token is not valid');
  if (checked.grant.generation !== account.token_generation) throw problems.unauthorized('the token has been revoked');
  return {
    kind: 'token',
    account,
    grant: checked.grant,
    tokenId: checked.id ? `jti:${checked.id}` : sha256Hex(token).slice(0, 32),
    expiresAt: checked.expiresAt,
  };
}

async function resolveCaller(deps: ApiDeps, credential: string): Promise<Caller> {
  if (looksLikeScopedToken(credential)) return tokenCaller(deps, credential);
  const account = await findAccountByApiKey(deps.db, credential);
  if (!account) throw problems.unauthorized('the API key is not valid');
  return { kind: 'account', account };
}

/** The account's API key only: a scoped token is refused here (account, ledger, webhooks, tokens, deletes, retries). */
export function requireAccount(deps: ApiDeps) {
  return async (ctx: Context, next: Next) => {
    const credential = bearerOf(ctx);
    if (!credential) throw problems.unauthorized();
    const caller = await resolveCaller(deps, credential);
    if (caller.kind === 'token') throw problems.unauthorized('this endpoint needs the account\'s API key; a scoped token cannot use it');
    ctx.state.caller = caller;
    await next();
  };
}

/**
 * The API key, or a scoped token granting `permission`. On event streams (`query: true`) the
 * token may come as `?access_token=`, because a browser's EventSource cannot send headers.
 */
export function allowTokens(deps: ApiDeps, permission: Permission, options: { query?: boolean } = {}) {
  return async (ctx: Context, next: Next) => {
    const fromQuery = options.query && typeof ctx.query.access_token === 'string' ? ctx.query.access_token : undefined;
    const credential = bearerOf(ctx) ?? fromQuery;
    if (!credential) throw problems.unauthorized('a valid bearer API key or scoped token is required');
    const caller = await resolveCaller(deps, credential);
    if (caller.kind === 'token' && !caller.grant.permissions.includes(permission)) {
      throw new Problem(403, 'token-permission', 'Forbidden', `this token does not grant "${permission}"`, { permission });
    }
    ctx.state.caller = caller;
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

export function callerOf(ctx: Context): Caller {
  const caller = ctx.state.caller as Caller | undefined;
  if (!caller) throw problems.unauthorized();
  return caller;
}

export function accountOf(ctx: Context): AccountRow {
  return callerOf(ctx).account;
}

/** What the caller may see, for the query that reads it. */
export function visibilityOf(ctx: Context): Visibility {
  const caller = callerOf(ctx);
  const accountId = caller.account.id;
  if (caller.kind === 'account') return { accountId };
  const { scope } = caller.grant;
  if ('runs' in scope) return { accountId, runIds: scope.runs };
  if ('sessions' in scope) return { accountId, sessionIds: scope.sessions };
  return { accountId, user: scope.user };
}

/**
 * Who holds the caller's event streams, below the account: the end user the followed run or
 * session serves, else a user-scoped token's end user, else the token itself; none for the
 * account's key (its backend is bounded by the account's cap). Following a user's run counts
 * against that user whichever token is used: every 202 mints a fresh read token for its run, and
 * counting each as its own holder let one end user take every stream of the account.
 */
export function streamHolderOf(ctx: Context, servesUser: string | null): string | undefined {
  const caller = callerOf(ctx);
  if (caller.kind === 'account') return undefined;
  if (servesUser !== null) return `user:${servesUser}`;
  return 'user' in caller.grant.scope ? `user:${caller.grant.scope.user}` : `token:${caller.tokenId}`;
}

/**
 * The end user a new run or session is for: the body's, or, for a token (which may create only
 * with a user scope), the token's user — a different one in the body is refused.
 */
export function endUserFor(ctx: Context, requested: string | undefined): string | undefined {
  const caller = callerOf(ctx);
  if (caller.kind === 'account') return requested;
  const { scope } = caller.grant;
  if (!('user' in scope)) throw new Problem(403, 'token-permission', 'Forbidden', 'only a token scoped to an end user may create', { permission: 'create' });
  if (requested !== undefined && requested !== scope.user) {
    throw new Problem(403, 'token-scope', 'Forbidden', `this token creates work for end user "${scope.user}" only`);
  }
  return scope.user;
}

/** What a token caller's creations are bound by (its limits, its budget's key); none for the account's key. */
export function tokenSpenderOf(ctx: Context): TokenSpender | undefined {
  const caller = callerOf(ctx);
  if (caller.kind === 'account') return undefined;
  return { tokenId: caller.tokenId, expiresAt: caller.expiresAt, limits: caller.grant.limits ?? {} };
}
