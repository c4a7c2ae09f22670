import { listLedger } from '../../db/ledger';
import { accountOf } from '../auth';
import { decodeCursor, page } from '../cursor';
import { endpoint } from '../endpoint';
import { json } from '../openapi-parts';
import { accountSchema, ledgerEntrySchema, listQuerySchema, pageOf } from '../schemas';

/** The caller's account and its ledger: the account's API key only. */
export const accountEndpoints = [
  endpoint({
    method: 'get', path: '/v1/account', summary: 'The caller\'s account', auth: 'account',
    responses: { 200: json(accountSchema, 'Account') },
    handle({ ctx }) {
      const a = accountOf(ctx);
      ctx.body = { id: a.id, name: a.name, balance: a.balance, reserved: a.reserved };
    },
  }),
  endpoint({
    method: 'get', path: '/v1/account/ledger', summary: 'Ledger entries, newest first', auth: 'account',
    query: listQuerySchema,
    responses: { 200: json(pageOf(ledgerEntrySchema), 'A page of entries') },
    async handle({ ctx, deps, query }) {
      const q = query();
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
    },
  }),
];
