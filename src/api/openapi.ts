import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { Auth, Endpoint } from './endpoint';
import { ENDPOINTS } from './endpoints';
import { problem } from './openapi-parts';

const SECURITY_SCHEMES = {
  apiKey: { type: 'http', scheme: 'bearer' },
  adminToken: { type: 'http', scheme: 'bearer' },
  scopedToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A scoped token from POST /v1/tokens (or a 202\'s publicAccessToken): only the runs and sessions of its scope, only its permissions',
  },
} as const;

type Scheme = keyof typeof SECURITY_SCHEMES;
const schemes = (...names: Scheme[]) => names.map((name) => ({ [name]: [] }));

/** The credentials each kind of authentication takes, and the problems it answers when they do not do. */
const AUTH_DOCS = {
  admin: { security: schemes('adminToken'), problems: { 401: 'Not the admin' } },
  account: { security: schemes('apiKey'), problems: { 401: 'Missing or wrong API key (a scoped token cannot call this endpoint)' } },
  token: {
    security: schemes('apiKey', 'scopedToken'),
    problems: {
      401: 'No valid API key or token (expired, revoked or malformed)',
      403: 'The token lacks the permission (token-permission), names another end user (token-scope), or its limits forbid the model, the estimate, a workspace, setup commands or a CLI agent (token-limit)',
    },
  },
  none: { security: undefined, problems: {} },
} satisfies Record<string, { security: Record<string, string[]>[] | undefined; problems: Record<number, string> }>;

const authDocs = (auth: Auth) => AUTH_DOCS[typeof auth === 'string' ? auth : 'token'];

/**
 * The problems every operation can answer, beside those it names: 400 (validation: any
 * parameter, NUL bytes and lone surrogates anywhere), 404 when its path names a resource, 408,
 * 413 and 415 when it takes a body, and 503.
 */
function commonProblems(endpoint: Endpoint): Record<number, string> {
  const common: Record<number, string> = { 400: 'Invalid input (validation-error, malformed-json, invalid-cursor, …)' };
  if (endpoint.path.includes('{')) common[404] = 'No such resource (or another account\'s, or outside a token\'s scope)';
  if (endpoint.method === 'post' || endpoint.method === 'patch') {
    common[408] = 'The body did not arrive within RUNWAY_BODY_TIMEOUT_MS (request-timeout); the connection is closed';
    common[413] = 'Body over RUNWAY_MAX_BODY_BYTES';
    common[415] = 'A body that is not JSON';
  }
  // Every documented operation reads PostgreSQL: an outage answers 503 (Retry-After).
  common[503] = 'PostgreSQL cannot be reached right now (database-unavailable); retry after Retry-After';
  return common;
}

function responsesOf(endpoint: Endpoint): Record<number, ResponseConfig> {
  const problems: Record<number, string> = { ...commonProblems(endpoint), ...authDocs(endpoint.auth).problems, ...endpoint.problems };
  const documented = Object.entries(problems).map(([status, description]) => [status, problem(description)]);
  return { ...Object.fromEntries(documented), ...endpoint.responses };
}

/** Each `{name}` of the path, a string. */
function pathParams(path: string): z.ZodObject | undefined {
  const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
  return names.length ? z.object(Object.fromEntries(names.map((name) => [name, z.string()]))) : undefined;
}

function operationOf(endpoint: Endpoint): RouteConfig {
  const { method, path, summary, query, headers, body } = endpoint;
  const params = pathParams(path);
  return {
    method,
    path,
    summary,
    security: authDocs(endpoint.auth).security,
    request: {
      ...(params && { params }),
      ...(query && { query }),
      ...(headers && { headers }),
      ...(body && { body: { required: !endpoint.bodyOptional, content: { 'application/json': { schema: body } } } }),
    },
    responses: responsesOf(endpoint),
  };
}

/** OpenAPI 3.1 of the endpoints' declarations: the schemas that validate requests document them, so the two cannot drift. */
export function buildOpenApiDocument(endpoints: readonly Endpoint[] = ENDPOINTS) {
  const registry = new OpenAPIRegistry();
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) registry.registerComponent('securitySchemes', name, scheme);
  for (const endpoint of endpoints) if (!endpoint.internal) registry.registerPath(operationOf(endpoint));
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'Runway API', version: '1.0.0', description: 'Durable AI runs on Temporal' },
    servers: [{ url: '/' }],
  });
}
