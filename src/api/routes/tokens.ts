import { bumpTokenGeneration } from '../../db/accounts';
import { limitsToIssue } from '../../runs/token-limits';
import { accountOf } from '../auth';
import { endpoint } from '../endpoint';
import { json } from '../openapi-parts';
import { createdTokenSchema, createTokenSchema, revokedTokensSchema } from '../token-schemas';

/** Scoped tokens: issued and revoked with the account's API key only. */
export const tokenEndpoints = [
  endpoint({
    method: 'post', path: '/v1/tokens', summary: 'Issue a scoped token (account key only)', auth: 'account',
    body: createTokenSchema,
    responses: { 201: json(createdTokenSchema, 'Issued') },
    problems: { 400: 'Invalid scope, permissions or expiry' },
    async handle({ ctx, deps, body }) {
      const { scope, permissions, expiresIn, limits: requested } = body();
      const account = accountOf(ctx);
      const limits = limitsToIssue(requested, permissions, deps.config.tokenDefaults);
      const issued = await deps.tokens.issue({ accountId: account.id, scope, permissions, generation: account.token_generation, limits }, expiresIn);
      ctx.status = 201;
      ctx.body = { token: issued.token, expiresAt: issued.expiresAt.toISOString(), scope, permissions, ...(limits ? { limits } : {}) };
    },
  }),
  endpoint({
    method: 'post', path: '/v1/tokens/revoke-all', summary: 'Revoke every token the account has issued so far', auth: 'account',
    responses: { 200: json(revokedTokensSchema, 'Revoked') },
    async handle({ ctx, deps }) {
      await bumpTokenGeneration(deps.db, accountOf(ctx).id);
      ctx.body = { revokedAt: new Date().toISOString() };
    },
  }),
];
