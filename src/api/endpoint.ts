import Router from '@koa/router';
import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import type { Context, Middleware } from 'koa';
import type { z } from 'zod';
import type { RunStarter } from '../runs/run-starter';
import type { SessionService } from '../sessions/session-service';
import type { Permission } from '../tokens/scoped-tokens';
import type { WebhookService } from '../webhooks/service';
import { allowTokens, requireAccount, requireAdmin } from './auth';
import type { ApiDeps } from './deps';
import { validate } from './validate';

/**
 * Who may call: nobody in particular, the admin token, the account's API key only, or the key
 * or a scoped token granting `token` (on event streams also as `?access_token=`, `query`).
 */
export type Auth = 'none' | 'admin' | 'account' | { token: Permission; query?: boolean };

/** What the handlers work with, built once per app. */
export interface ApiServices {
  deps: ApiDeps;
  starter: RunStarter;
  sessions: SessionService;
  webhooks: WebhookService;
  /** The document GET /openapi.json serves. */
  openapi: unknown;
}

/** The names in a path's `{braces}`. */
type ParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}` ? Name | ParamNames<Rest> : never;

/**
 * One request to an endpoint. `query()` and `body()` validate against the declared schemas when
 * the handler asks, so each handler keeps its order of checks (a missing resource before a bad body).
 */
export interface Call<P extends string, Q extends z.ZodObject, B extends z.ZodTypeAny> extends ApiServices {
  ctx: Context;
  params: Record<ParamNames<P>, string>;
  query(): z.output<Q>;
  body(): z.output<B>;
}

/**
 * An endpoint, declared once: the router and the OpenAPI document are both built from it.
 * Responses are the successful ones; `problems` the problem+json answers it names on top of
 * those every operation can give (see openapi.ts).
 */
export interface EndpointSpec<P extends string, Q extends z.ZodObject, B extends z.ZodTypeAny> {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** OpenAPI's form: `/v1/runs/{id}`. */
  path: P;
  summary: string;
  auth: Auth;
  /** Left out of the OpenAPI document: the operator's endpoints (probes, metrics) and the document itself. */
  internal?: true;
  query?: Q;
  body?: B;
  /** An absent body is validated as `{}`, and documented as optional; otherwise the body is required. */
  bodyOptional?: true;
  /** Documented only: the handler reads and checks them (Idempotency-Key, Last-Event-ID). */
  headers?: z.ZodObject;
  responses?: Record<number, ResponseConfig>;
  problems?: Record<number, string>;
  handle(call: Call<P, Q, B>): Promise<void> | void;
}

export type Endpoint = EndpointSpec<string, z.ZodObject, z.ZodTypeAny>;

/** Declares an endpoint; the identity, for the types of `handle`'s call. */
export function endpoint<P extends string, Q extends z.ZodObject = z.ZodObject, B extends z.ZodTypeAny = z.ZodNever>(
  spec: EndpointSpec<P, Q, B>,
): Endpoint {
  return spec;
}

function authentication(auth: Auth, deps: ApiDeps): Middleware[] {
  if (auth === 'none') return [];
  if (auth === 'admin') return [requireAdmin(deps)];
  if (auth === 'account') return [requireAccount(deps)];
  return [allowTokens(deps, auth.token, { query: auth.query })];
}

function callOf(endpoint: Endpoint, ctx: Context, services: ApiServices): Call<string, z.ZodObject, z.ZodTypeAny> {
  const declared = <S extends z.ZodTypeAny>(schema: S | undefined, what: string): S => {
    if (!schema) throw new Error(`${endpoint.method} ${endpoint.path} declares no ${what}`);
    return schema;
  };
  return {
    ...services,
    ctx,
    params: ctx.params as Record<string, string>,
    query: () => validate(declared(endpoint.query, 'query'), ctx.query),
    body: () => validate(declared(endpoint.body, 'body'), endpoint.bodyOptional ? (ctx.request.body ?? {}) : ctx.request.body),
  };
}

/** `/v1/runs/{id}` as @koa/router writes it: `/v1/runs/:id`. */
const routerPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

/** One router for these endpoints, in their order, each behind its authentication. */
export function routerOf(endpoints: readonly Endpoint[], services: ApiServices): Router {
  const router = new Router();
  for (const e of endpoints) {
    router[e.method](routerPath(e.path), ...authentication(e.auth, services.deps), (ctx) => e.handle(callOf(e, ctx, services)));
  }
  return router;
}
