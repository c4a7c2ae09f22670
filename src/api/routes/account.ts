import Router from '@koa/router';
import { listLedger } from '../../db/ledger';
import { accountOf, requireAccount } from '../auth';
import { decodeCursor, page } from '../cursor';
import type { ApiDeps } from '../deps';
import { listQuerySchema } from '../schemas';
import { validate } from '../validate';

export function accountRoutes(deps: ApiDeps): Router {
  const router = new Router({ prefix: '/v1/account' });
  router.use(requireAccount(deps));

  router.get('/', (ctx) => {
    const a = accountOf(ctx);
    ctx.body = { id: a.id, name: a.name, balance: a.balance, reserved: a.reserved };
  });

  router.get('/ledger', async (ctx) => {
    const q = validate(listQuerySchema, ctx.query);
    const rows = await listLedger(deps.db, accountOf(ctx).id, { limit: q.limit, beforeId: decodeCursor(q.cursor) });
    const { nextCursor } = page(rows, q.limit, (r) => r.id);
    ctx.body = {
      data: rows.map((r) => ({
        id: `led_${r.id}`,
        runId: r.run_id,
        kind: r.kind,
        amount: r.amount,
        balanceAfter: r.balance_after,
        reservedAfter: r.reserved_after,
        reason: r.reason,
        createdAt: r.created_at.toISOString(),
      })),
      nextCursor,
    };
  });
  return router;
}
