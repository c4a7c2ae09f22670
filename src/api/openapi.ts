import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  accountSchema,
  addCreditsSchema,
  createAccountSchema,
  createdAccountSchema,
  createRunSchema,
  createSessionSchema,
  ledgerEntrySchema,
  listSessionsQuerySchema,
  listQuerySchema,
  listRunsQuerySchema,
  pageOf,
  retryRunSchema,
  runAcceptedSchema,
  runSchema,
  sessionRequestAcceptedSchema,
  sessionRequestSchema,
  sessionSchema,
} from './schemas';
import { registerWebhookPaths } from './webhook-openapi';
import { json, problem, withCommonProblems } from './openapi-parts';
import { createdTokenSchema, createTokenSchema, revokedTokensSchema } from './token-schemas';

const idParam = z.object({ id: z.string() });

/** OpenAPI 3.1 generated from the schemas that validate requests, so the two cannot drift. */
export function buildOpenApiDocument() {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer' });
  const admin = registry.registerComponent('securitySchemes', 'adminToken', { type: 'http', scheme: 'bearer' });
  const scoped = registry.registerComponent('securitySchemes', 'scopedToken', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A scoped token from POST /v1/tokens (or a 202\'s publicAccessToken): only the runs and sessions of its scope, only its permissions',
  });
  const user = [{ [bearer.name]: [] }];
  /** Endpoints a scoped token may call too (within its scope and permissions). */
  const userOrToken = [{ [bearer.name]: [] }, { [scoped.name]: [] }];
  const tokenRefusals = {
    401: problem('No valid API key or token (expired, revoked or malformed)'),
    403: problem('The token lacks the permission (token-permission), names another end user (token-scope), or its limits forbid the model, the estimate, a workspace, setup commands or a CLI agent (token-limit)'),
  };

  registry.registerPath({
    method: 'post', path: '/v1/admin/accounts', summary: 'Create an account (the API key is shown once)',
    security: [{ [admin.name]: [] }],
    request: { body: { content: { 'application/json': { schema: createAccountSchema } } } },
    responses: { 201: json(createdAccountSchema, 'Created'), 400: problem('Invalid input'), 401: problem('Not the admin') },
  });
  registry.registerPath({
    method: 'post', path: '/v1/admin/accounts/{id}/credits', summary: 'Add credits to an account',
    security: [{ [admin.name]: [] }],
    request: { params: idParam, body: { content: { 'application/json': { schema: addCreditsSchema } } } },
    responses: { 200: json(z.object({ balance: z.number().int() }), 'New balance'), 404: problem('No such account') },
  });
  registry.registerPath({
    method: 'get', path: '/v1/admin/workspace-leftovers', summary: 'Workspaces a cleanup could not remove (newest 100)',
    security: [{ [admin.name]: [] }],
    responses: {
      200: json(
        z.object({
          data: z.array(
            z.object({ ownerId: z.string(), path: z.string(), hostQueue: z.string().nullable(), error: z.string(), createdAt: z.string() }),
          ),
        }),
        'Leftovers',
      ),
      401: problem('Not the admin'),
    },
  });
  registry.registerPath({
    method: 'get', path: '/v1/account', summary: 'The caller\'s account', security: user,
    responses: { 200: json(accountSchema, 'Account'), 401: problem('Bad API key') },
  });
  registry.registerPath({
    method: 'get', path: '/v1/account/ledger', summary: 'Ledger entries, newest first', security: user,
    request: { query: listQuerySchema },
    responses: { 200: json(pageOf(ledgerEntrySchema), 'A page of entries') },
  });
  registry.registerPath({
    method: 'post', path: '/v1/runs', summary: 'Start a run (answers before any AI work)', security: userOrToken,
    request: {
      headers: z.object({ 'idempotency-key': z.string().optional() }),
      body: { content: { 'application/json': { schema: createRunSchema } } },
    },
    responses: {
      202: json(runAcceptedSchema, 'Admitted: credits reserved, work queued'),
      400: problem('Invalid input or unknown model'),
      402: problem('The estimate exceeds the available balance (insufficient-credits), or a token\'s budget (budget-exceeded, scope token or user)'),
      404: problem('No such session (sessionId of another account, or unknown)'),
      409: problem('Idempotency-Key reused with another body'),
      429: problem('Too many active runs: the account\'s cap (scope "account") or the end user\'s (scope "user")'),
      ...tokenRefusals,
    },
  });
  registry.registerPath({
    method: 'get', path: '/v1/runs', summary: 'The caller\'s runs, newest first', security: userOrToken,
    request: { query: listRunsQuerySchema },
    responses: { 200: json(pageOf(runSchema), 'A page of runs (a token: those in its scope)'), ...tokenRefusals },
  });
  registry.registerPath({
    method: 'get', path: '/v1/runs/{id}', summary: 'One run', security: userOrToken,
    request: { params: idParam },
    responses: { 200: json(runSchema, 'The run'), 404: problem('No such run (or outside the token\'s scope)'), ...tokenRefusals },
  });
  registry.registerPath({
    method: 'post', path: '/v1/runs/{id}/stop', summary: 'Stop a run', security: userOrToken,
    request: { params: idParam },
    responses: {
      202: json(z.object({ id: z.string(), status: z.enum(['stopping', 'stopped']) }), 'Stopping (or stopped at once, when its workflow had not started yet)'),
      409: problem('The run has already ended'),
      ...tokenRefusals,
    },
  });
  registry.registerPath({
    method: 'delete', path: '/v1/runs/{id}', summary: 'Delete an ended run', security: user,
    request: { params: idParam },
    responses: { 204: { description: 'Deleted' }, 409: problem('The run is still active') },
  });
  registry.registerPath({
    method: 'post', path: '/v1/runs/{id}/retry', summary: 'Start a new run with the same input', security: user,
    request: { params: idParam, body: { content: { 'application/json': { schema: retryRunSchema } } } },
    responses: {
      202: json(runAcceptedSchema, 'Admitted'),
      402: problem('Insufficient credits'),
      409: problem('Idempotency-Key reused with another body, or the run\'s session is closed or busy'),
      429: problem('Too many active runs (account or end user)'),
    },
  });
  const eventStream = {
    200: { description: 'An event stream: persisted events after the cursor, then live ones', content: { 'text/event-stream': { schema: z.string() } } },
    204: { description: 'A finished stream with nothing left to send' },
    400: problem('Invalid cursor'),
    404: problem('No such stream (or outside the token\'s scope)'),
    429: problem('Too many open streams for this account'),
    ...tokenRefusals,
  };
  const resume = {
    headers: z.object({ 'last-event-id': z.string().optional() }),
    query: z.object({
      after: z.coerce.number().int().min(0).optional(),
      access_token: z.string().optional().openapi({ description: 'A scoped token, for EventSource (which cannot send headers); never logged' }),
    }),
  };
  registry.registerPath({
    method: 'get', path: '/v1/runs/{id}/events', summary: 'Server-sent events: replay, then live', security: userOrToken,
    request: { params: idParam, ...resume },
    responses: eventStream,
  });

  const sessionParam = z.object({ id: z.string() });
  const requestParam = z.object({ id: z.string(), requestId: z.string() });
  registry.registerPath({
    method: 'post', path: '/v1/sessions', summary: 'Create a session', security: userOrToken,
    request: { body: { content: { 'application/json': { schema: createSessionSchema } } } },
    responses: {
      201: json(sessionSchema, 'Created'),
      400: problem('Invalid input or unknown model'),
      429: problem('Too many open sessions (too-many-open-sessions, scope "account" or "user"), or, for a session with a workspace, too many active runs: a preparing session counts as one (too-many-active-runs)'),
      ...tokenRefusals,
    },
  });
  registry.registerPath({
    method: 'get', path: '/v1/sessions', summary: 'The caller\'s sessions, newest first', security: userOrToken,
    request: { query: listSessionsQuerySchema },
    responses: { 200: json(pageOf(sessionSchema), 'A page of sessions (a token: those in its scope)'), ...tokenRefusals },
  });
  registry.registerPath({
    method: 'get', path: '/v1/sessions/{id}', summary: 'One session with its queue', security: userOrToken,
    request: { params: sessionParam },
    responses: { 200: json(sessionSchema, 'The session'), 404: problem('No such session'), ...tokenRefusals },
  });
  registry.registerPath({
    method: 'delete', path: '/v1/sessions/{id}', summary: 'Close a session: stop its work, refund its queue', security: userOrToken,
    request: { params: sessionParam },
    responses: { 202: json(z.object({ id: z.string(), status: z.enum(['closing', 'closed']) }), 'Closing'), 404: problem('No such session'), ...tokenRefusals },
  });
  registry.registerPath({
    method: 'post', path: '/v1/sessions/{id}/requests', summary: 'Send a request (answers at once)', security: userOrToken,
    request: {
      params: sessionParam,
      headers: z.object({ 'idempotency-key': z.string().optional() }),
      body: { content: { 'application/json': { schema: sessionRequestSchema } } },
    },
    responses: {
      202: json(sessionRequestAcceptedSchema, 'Admitted and queued'),
      402: problem('Insufficient credits, or a token\'s budget exceeded (budget-exceeded)'),
      409: problem('Session busy (reject mode) or closed'),
      429: problem('Too many active runs (account or end user)'),
      ...tokenRefusals,
    },
  });
  registry.registerPath({
    method: 'get', path: '/v1/sessions/{id}/requests/{requestId}', summary: 'One request (its run)', security: userOrToken,
    request: { params: requestParam },
    responses: { 200: json(runSchema.extend({ requestId: z.string() }), 'The request'), 404: problem('No such request'), ...tokenRefusals },
  });
  registry.registerPath({
    method: 'post', path: '/v1/sessions/{id}/requests/{requestId}/stop', summary: 'Stop one request', security: userOrToken,
    request: { params: requestParam },
    responses: { 202: json(z.object({ requestId: z.string(), runId: z.string(), status: z.enum(['stopping', 'stopped']) }), 'Stopping (or stopped at once, when its workflow had not started yet)'), 409: problem('Already ended'), ...tokenRefusals },
  });
  registry.registerPath({
    method: 'get', path: '/v1/sessions/{id}/requests/{requestId}/events', summary: 'A request\'s events', security: userOrToken,
    request: { params: requestParam, ...resume },
    responses: eventStream,
  });
  registry.registerPath({
    method: 'get', path: '/v1/sessions/{id}/events', summary: 'The session\'s own events (request.completed, session.closed)', security: userOrToken,
    request: { params: sessionParam, ...resume },
    responses: eventStream,
  });
  registerWebhookPaths(registry, user);
  registry.registerPath({
    method: 'post', path: '/v1/tokens', summary: 'Issue a scoped token (account key only)', security: user,
    request: { body: { content: { 'application/json': { schema: createTokenSchema } } } },
    responses: { 201: json(createdTokenSchema, 'Issued'), 400: problem('Invalid scope, permissions or expiry'), 401: problem('Not the account\'s API key') },
  });
  registry.registerPath({
    method: 'post', path: '/v1/tokens/revoke-all', summary: 'Revoke every token the account has issued so far', security: user,
    responses: { 200: json(revokedTokensSchema, 'Revoked'), 401: problem('Not the account\'s API key') },
  });

  for (const definition of registry.definitions) if (definition.type === 'route') withCommonProblems(definition.route);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'Runway API', version: '1.0.0', description: 'Durable AI runs on Temporal' },
    servers: [{ url: '/' }],
  });
}
