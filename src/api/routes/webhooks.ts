import Router from '@koa/router';
import type { Context } from 'koa';
import { deleteOwnedWebhook, getOwnedWebhook, listOwnedDeliveries, listOwnedWebhooks } from '../../db/webhooks';
import type { WebhookEndpointRow } from '../../db/schema';
import type { WebhookService } from '../../webhooks/service';
import { accountOf, requireAccount } from '../auth';
import { decodeCursor, page } from '../cursor';
import type { ApiDeps } from '../deps';
import { problems } from '../problem';
import { listQuerySchema } from '../schemas';
import { validate } from '../validate';
import { createWebhookSchema, toDeliveryView, toWebhookView, updateWebhookSchema } from '../webhook-schemas';

export function webhookRoutes(deps: ApiDeps, webhooks: WebhookService): Router {
  const router = new Router({ prefix: '/v1/webhooks' });
  router.use(requireAccount(deps));

  const owned = async (ctx: Context): Promise<WebhookEndpointRow> => {
    const row = await getOwnedWebhook(deps.db, accountOf(ctx).id, String(ctx.params.id));
    if (!row) throw problems.notFound('webhook');
    return row;
  };

  router.post('/', async (ctx) => {
    const body = validate(createWebhookSchema, ctx.request.body);
    const { endpoint, secret } = await webhooks.create(accountOf(ctx).id, body);
    ctx.status = 201;
    ctx.set('Location', `/v1/webhooks/${endpoint.id}`);
    ctx.body = { ...toWebhookView(endpoint), secret };
  });

  router.get('/', async (ctx) => {
    const q = validate(listQuerySchema, ctx.query);
    const rows = await listOwnedWebhooks(deps.db, accountOf(ctx).id, { limit: q.limit, beforeSeq: decodeCursor(q.cursor) });
    ctx.body = { data: rows.map(toWebhookView), nextCursor: page(rows, q.limit, (r) => r.seq).nextCursor };
  });

  router.get('/:id', async (ctx) => {
    ctx.body = toWebhookView(await owned(ctx));
  });

  router.patch('/:id', async (ctx) => {
    const body = validate(updateWebhookSchema, ctx.request.body ?? {});
    ctx.body = toWebhookView(await webhooks.update(accountOf(ctx).id, String(ctx.params.id), body));
  });

  router.delete('/:id', async (ctx) => {
    if (!(await deleteOwnedWebhook(deps.db, accountOf(ctx).id, String(ctx.params.id)))) throw problems.notFound('webhook');
    ctx.status = 204;
  });

  router.post('/:id/rotate-secret', async (ctx) => {
    ctx.body = { secret: await webhooks.rotateSecret(accountOf(ctx).id, String(ctx.params.id)) };
  });

  router.get('/:id/deliveries', async (ctx) => {
    const endpoint = await owned(ctx);
    const q = validate(listQuerySchema, ctx.query);
    const rows = await listOwnedDeliveries(deps.db, accountOf(ctx).id, endpoint.id, { limit: q.limit, beforeSeq: decodeCursor(q.cursor) });
    ctx.body = { data: rows.map(toDeliveryView), nextCursor: page(rows, q.limit, (r) => r.seq).nextCursor };
  });

  router.post('/:id/deliveries/:deliveryId/retry', async (ctx) => {
    const row = await webhooks.redeliver(accountOf(ctx).id, String(ctx.params.id), String(ctx.params.deliveryId));
    ctx.status = 202;
    ctx.body = toDeliveryView(row);
  });

  return router;
}
