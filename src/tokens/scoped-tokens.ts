import { hkdfSync } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';

export const PERMISSIONS = ['read', 'stop', 'create'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Exactly one kind of scope per token. */
export type TokenScope = { runs: string[] } | { sessions: string[] } | { user: string };

export interface TokenGrant {
  accountId: string;
  scope: TokenScope;
  permissions: Permission[];
  /** The account's token generation when issued; revoke-all moves the account's on. */
  generation: number;
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
const claimsSchema = z.object({
  sub: z.string(),
  gen: z.number().int(),
  perm: z.array(z.enum(PERMISSIONS)),
  scope: z.union([
    z.object({ runs: z.array(z.string()) }).strict(),
    z.object({ sessions: z.array(z.string()) }).strict(),
    z.object({ user: z.string() }).strict(),
  ]),
});

/** `expiresAt`: the token's exp, which ends the event streams it opened. */
export type TokenCheck = { ok: true; grant: TokenGrant; expiresAt: Date } | { ok: false; reason: 'expired' | 'invalid' };

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
    const token = await new SignJWT({ scope: grant.scope, perm: grant.permissions, gen: grant.generation })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
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
      const { sub, scope, perm, gen } = claims.data;
      return { ok: true, grant: { accountId: sub, scope, permissions: perm, generation: gen }, expiresAt: new Date((payload.exp as number) * 1000) };
    } catch (err) {
      return { ok: false, reason: err instanceof joseErrors.JWTExpired ? 'expired' : 'invalid' };
    }
  }
}

/** A bearer value shaped like a JWT (three base64url parts); API keys never are. */
export function looksLikeScopedToken(value: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value);
}
