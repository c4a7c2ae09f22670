import { z } from 'zod';
import { createAccount, findAccount } from '../../db/accounts';
import { creditAccount } from '../../db/ledger';
import { listWorkspaceLeftovers } from '../../db/run-workspace';
import { endpoint } from '../endpoint';
import { json } from '../openapi-parts';
import { problems } from '../problem';
import { addCreditsSchema, createAccountSchema, createdAccountSchema } from '../schemas';

const leftoverSchema = z.object({ ownerId: z.string(), path: z.string(), hostQueue: z.string().nullable(), error: z.string(), createdAt: z.string() });

/** The operator's endpoints, behind the admin token. */
export const adminEndpoints = [
  endpoint({
    method: 'post', path: '/v1/admin/accounts', summary: 'Create an account (the API key is shown once)', auth: 'admin',
    body: createAccountSchema,
    responses: { 201: json(createdAccountSchema, 'Created') },
    problems: { 400: 'Invalid input' },
    async handle({ ctx, deps, body }) {
      const { account, apiKey } = await createAccount(deps.db, body());
      ctx.status = 201;
      ctx.set('Location', `/v1/admin/accounts/${account.id}`);
      ctx.body = { id: account.id, name: account.name, apiKey, balance: account.balance };
    },
  }),
  endpoint({
    method: 'post', path: '/v1/admin/accounts/{id}/credits', summary: 'Add credits to an account', auth: 'admin',
    body: addCreditsSchema,
    responses: { 200: json(z.object({ balance: z.number().int() }), 'New balance') },
    problems: { 404: 'No such account' },
    async handle({ ctx, deps, params, body }) {
      const { amount, reason } = body();
      const account = await findAccount(deps.db, params.id);
      if (!account) throw problems.notFound('account');
      ctx.body = { balance: await creditAccount(deps.db, account.id, amount, reason) };
    },
  }),
  /** Workspaces a cleanup gave up on (their runs and sessions are settled and ended all the same). */
  endpoint({
    method: 'get', path: '/v1/admin/workspace-leftovers', summary: 'Workspaces a cleanup could not remove (newest 100)', auth: 'admin',
    responses: { 200: json(z.object({ data: z.array(leftoverSchema) }), 'Leftovers') },
    async handle({ ctx, deps }) {
      const rows = await listWorkspaceLeftovers(deps.db, 100);
      ctx.body = {
        data: rows.map((r) => ({ ownerId: r.owner_id, path: r.path, hostQueue: r.host_queue, error: r.error, createdAt: r.created_at.toISOString() })),
      };
    },
  }),
];
