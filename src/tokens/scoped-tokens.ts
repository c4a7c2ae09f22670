import { hkdfSync, randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';

export const PERMISSIONS = ['read', 'stop', 'create'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Calendar windows (UTC) of an end user's spend budget. */
export const BUDGET_PERIODS = ['hour', 'day', 'week', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

/**
 * What a token may spend and start when it creates (a browser holds it, so it is bounded by what
 * the account's backend granted). Absent models, maxEstimate or budgets: no limit of that kind;
 * workspaces, setup commands and CLI agents are refused unless granted.
 */
export interface TokenLimits {
  /** Models it may use: exact names or `provider/*`. */
  models?: string[];
  /** The largest estimate (credits) of one run. */
  maxEstimate?: number;
  /** Credits this token may reserve in all, over its life. */
  budget?: number;
  /** Credits the token's end user may reserve through tokens per calendar period. */
  userBudget?: { credits: number; period: BudgetPeriod };
  allow?: { workspaces?: boolean; setup?: boolean; cliAgents?: boolean; tools?: boolean };
}

/** What a `create` token may spend when its issuer set no `maxEstimate` / `budget`. */
export interface TokenDefaults {
  maxEstimate: number;
  budget: number;
}

/** Exactly one kind of scope per token. */
export type TokenScope = { runs: string[] } | { sessions: string[] } | { user: string };

export interface TokenGrant {
  accountId: string;
  scope: TokenScope;
  permissions: Permission[];
  /** The account's token generation when issued; revoke-all moves the account's on. */
  generation: number;
  limits?: TokenLimits;
}

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

/** The read-only token handed back with every admitted run, for its owner's browser. */
export const PUBLIC_ACCESS_SECONDS = 15 * 60;
export const DEFAULT_TOKEN_SECONDS = 15 * 60;
export const MAX_TOKEN_SECONDS = 24 * 60 * 60;

const ALG = 'HS256';
const ISSUER = 'runway';
const AUDIENCE = 'runway-api';

/** The claims Runway signs; anything else under a valid signature is refused all the same. */
const limitsSchema = z
  .object({
    models: z.array(z.string()).optional(),
    maxEstimate: z.number().int().optional(),
    budget: z.number().int().optional(),
    userBudget: z.object({ credits: z.number().int(), period: z.enum(BUDGET_PERIODS) }).strict().optional(),
    allow: z.object({ workspaces: z.boolean().optional(), setup: z.boolean().optional(), cliAgents: z.boolean().optional(), tools: z.boolean().optional() }).strict().optional(),
  })
  .strict();

const claimsSchema = z.object({
  sub: z.string(),
  jti: z.string().optional(),
  exp: z.number(),
  lim: limitsSchema.optional(),
  gen: z.number().int(),
  perm: z.array(z.enum(PERMISSIONS)),
  scope: z.union([
    z.object({ runs: z.array(z.string()) }).strict(),
    z.object({ sessions: z.array(z.string()) }).strict(),
    z.object({ user: z.string() }).strict(),
  ]),
});

/** `id`: the token's unique id (its `jti`; tokens signed before ids existed have none). */
export type TokenCheck =
  | { ok: true; grant: TokenGrant; id: string | undefined; expiresAt: Date }
  | { ok: false; reason: 'expired' | 'invalid' };

/**
 * Scoped tokens are signed JWTs (HS256), not stored rows: the 202 of every run carries one, and a
 * signature costs no database write on that hot path. The key is derived from the platform's
 * sealing key (HKDF, its own label), so no new secret has to be configured and the sealing key
 * itself never signs anything. Revocation is the account's generation counter, read with the
 * account on every request, so revoke-all takes effect at once.
 */
export class ScopedTokens {
  private readonly key: Uint8Array;

  constructor(secretsKey: Buffer) {
    this.key = new Uint8Array(hkdfSync('sha256', secretsKey, Buffer.alloc(0), 'runway scoped tokens v1', 32));
  }

  async issue(grant: TokenGrant, seconds: number): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    const claims = { scope: grant.scope, perm: grant.permissions, gen: grant.generation, ...(grant.limits ? { lim: grant.limits } : {}) };
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      // A unique id: a token's budget is counted under it, and two tokens signed alike in one second still differ.
      .setJti(randomUUID())
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(grant.accountId)
      .setIssuedAt(now)
      .setExpirationTime(now + seconds)
      .sign(this.key);
    return { token, expiresAt: new Date((now + seconds) * 1000) };
  }

  async check(token: string): Promise<TokenCheck> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: [ALG], issuer: ISSUER, audience: AUDIENCE, requiredClaims: ['exp'] });
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success) return { ok: false, reason: 'invalid' };
      const { sub, scope, perm, gen, lim, jti, exp } = claims.data;
      const grant: TokenGrant = { accountId: sub, scope, permissions: perm, generation: gen, ...(lim ? { limits: lim } : {}) };
      return { ok: true, grant, id: jti, expiresAt: new Date(exp * 1000) };
    } catch (err) {
      return { ok: false, reason: err instanceof joseErrors.JWTExpired ? 'expired' : 'invalid' };
    }
  }
}

/** A bearer value shaped like a JWT (three base64url parts); API keys never are. */
export function looksLikeScopedToken(value: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value);
}
