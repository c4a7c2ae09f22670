import Router from '@koa/router';
import { bumpTokenGeneration } from '../../db/accounts';
import { limitsToIssue } from '../../runs/token-limits';
import { accountOf, requireAccount } from '../auth';
import type { ApiDeps } from '../deps';
import { createTokenSchema } from '../token-schemas';
import { validate } from '../validate';

/** Scoped tokens: issued and revoked with the account's API key only. */
export function tokenRoutes(deps: ApiDeps): Router {
  const router = new Router({ prefix: '/v1/tokens' });
  router.use(requireAccount(deps));

  router.post('/', async (ctx) => {
    const body = validate(createTokenSchema, ctx.request.body);
    const account = accountOf(ctx);
    const limits = limitsToIssue(body.limits, body.permissions, deps.config.tokenDefaults);
    const issued = await deps.tokens.issue(
      { accountId: account.id, scope: body.scope, permissions: body.permissions, generation: account.token_generation, limits },
      body.expiresIn,
    );
    ctx.status = 201;
    ctx.body = {
      token: issued.token,
      expiresAt: issued.expiresAt.toISOString(),
      scope: body.scope,
      permissions: body.permissions,
      ...(limits ? { limits } : {}),
    };
  });

  router.post('/revoke-all', async (ctx) => {
    await bumpTokenGeneration(deps.db, accountOf(ctx).id);
    ctx.body = { revokedAt: new Date().toISOString() };
  });

  return router;
}
