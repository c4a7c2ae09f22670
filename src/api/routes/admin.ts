import Router from '@koa/router';
import { createAccount, findAccount } from '../../db/accounts';
import { creditAccount } from '../../db/ledger';
import { listWorkspaceLeftovers } from '../../db/run-workspace';
import { requireAdmin } from '../auth';
import type { ApiDeps } from '../deps';
import { problems } from '../problem';
import { addCreditsSchema, createAccountSchema } from '../schemas';
import { validate } from '../validate';

export function adminRoutes(deps: ApiDeps): Router {
  const router = new Router({ prefix: '/v1/admin' });
  router.use(requireAdmin(deps));

  router.post('/accounts', async (ctx) => {
    const body = validate(createAccountSchema, ctx.request.body);
    const { account, apiKey } = await createAccount(deps.db, body);
    ctx.status = 201;
    ctx.set('Location', `/v1/admin/accounts/${account.id}`);
    ctx.body = { id: account.id, name: account.name, apiKey, balance: account.balance };
  });

  router.post('/accounts/:id/credits', async (ctx) => {
    const body = validate(addCreditsSchema, ctx.request.body);
    const account = await findAccount(deps.db, ctx.params.id ?? '');
    if (!account) throw problems.notFound('account');
    const balance = await creditAccount(deps.db, account.id, body.amount, body.reason);
    ctx.body = { balance };
  });

  /** Workspaces a cleanup gave up on (their runs and sessions are settled and ended all the same). */
  router.get('/workspace-leftovers', async (ctx) => {
    const rows = await listWorkspaceLeftovers(deps.db, 100);
    ctx.body = {
      data: rows.map((r) => ({ ownerId: r.owner_id, path: r.path, hostQueue: r.host_queue, error: r.error, createdAt: r.created_at.toISOString() })),
    };
  });
  return router;
}
