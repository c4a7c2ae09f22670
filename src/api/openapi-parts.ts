import type { z } from 'zod';
import { problemSchema } from './schemas';

/** A JSON response of the OpenAPI document. */
export const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** A problem+json response of the OpenAPI document. */
export const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problemSchema } },
});

type RouteConfig = { method: string; path: string; security?: unknown[]; request?: { body?: unknown }; responses: Record<string, unknown> };

/**
 * The problems every operation can answer, added where an operation does not describe its own:
 * 400 (validation: any parameter, NUL bytes and lone surrogates anywhere), 401 when it needs a
 * credential, 404 when its path names a resource, 408, 413 and 415 when it takes a body.
 */
export function withCommonProblems(route: RouteConfig): void {
  const common: Record<string, unknown> = { 400: problem('Invalid input (validation-error, malformed-json, invalid-cursor, …)') };
  if (route.security?.length) common[401] = problem('Missing or invalid credentials');
  if (route.path.includes('{')) common[404] = problem('No such resource (or another account\'s, or outside a token\'s scope)');
  if (route.method === 'post' || route.method === 'patch') {
    common[408] = problem('The body did not arrive within RUNWAY_BODY_TIMEOUT_MS (request-timeout); the connection is closed');
    common[413] = problem('Body over RUNWAY_MAX_BODY_BYTES');
    common[415] = problem('A body that is not JSON');
  }
  // Every documented operation reads PostgreSQL: an outage answers 503 (Retry-After).
  common[503] = problem('PostgreSQL cannot be reached right now (database-unavailable); retry after Retry-After');
  route.responses = { ...common, ...route.responses };
}
