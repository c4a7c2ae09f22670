import { z } from 'zod';
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { BUDGET_PERIODS, DEFAULT_TOKEN_SECONDS, MAX_TOKEN_SECONDS, PERMISSIONS } from '../tokens/scoped-tokens';
import { endUserSchema, modelNameSchema } from './schemas';

extendZodWithOpenApi(z);

const MAX_SCOPE_IDS = 100;

const idList = (prefix: string) =>
  z
    .array(z.string().regex(new RegExp(`^${prefix}_[0-9a-z]{1,64}$`), `must be ${prefix}_… ids`))
    .min(1)
    .max(MAX_SCOPE_IDS);

export const tokenScopeSchema = z
  .union([
    z.object({ runs: idList('run') }).strict(),
    z.object({ sessions: idList('ses') }).strict(),
    z.object({ user: endUserSchema }).strict(),
  ])
  .describe('Exactly one of runs, sessions (with their requests) or user (every run and session of that end user)')
  .openapi('TokenScope');

const credits = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER / 4);

/** Bounds on what a `create` token starts; they travel signed in the token. */
export const tokenLimitsSchema = z
  .object({
    models: z
      .array(z.union([modelNameSchema, z.string().max(100).regex(/^[a-z0-9][a-z0-9-]*\/\*$/, 'must be <provider>/<model> or <provider>/*')]))
      .min(1)
      .max(50)
      .optional()
      .describe('Models it may use: exact names or `provider/*`; absent: any'),
    maxEstimate: credits.optional().describe('The largest estimate (credits) of one run; absent on a `create` token: RUNWAY_TOKEN_DEFAULT_MAX_ESTIMATE (10,000)'),
    budget: credits.optional().describe('Credits its runs may reserve in all, over the token\'s life; absent on a `create` token: RUNWAY_TOKEN_DEFAULT_BUDGET (100,000)'),
    userBudget: z
      .object({ credits, period: z.enum(BUDGET_PERIODS) })
      .strict()
      .optional()
      .describe('Credits its end user\'s runs created through tokens may reserve per calendar period (UTC)'),
    allow: z
      .object({ workspaces: z.boolean().optional(), setup: z.boolean().optional(), cliAgents: z.boolean().optional(), tools: z.boolean().optional() })
      .strict()
      .optional()
      .describe('Workspaces, setup commands, CLI agents and agent tools (workspace tools, MCP servers): refused unless true'),
  })
  .strict()
  .openapi('TokenLimits');

export const createTokenSchema = z
  .object({
    scope: tokenScopeSchema,
    permissions: z.array(z.enum(PERMISSIONS)).min(1).max(3).default(['read']),
    expiresIn: z.number().int().min(1).max(MAX_TOKEN_SECONDS).default(DEFAULT_TOKEN_SECONDS).describe('Seconds'),
    limits: tokenLimitsSchema.optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.permissions.includes('create') && !('user' in t.scope)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['permissions'], message: 'create needs a user scope' });
    }
  })
  .openapi('CreateToken');

export const createdTokenSchema = z
  .object({
    token: z.string(),
    expiresAt: z.string(),
    scope: tokenScopeSchema,
    permissions: z.array(z.enum(PERMISSIONS)),
    limits: tokenLimitsSchema.optional(),
  })
  .openapi('CreatedToken');

export const revokedTokensSchema = z
  .object({ revokedAt: z.string().describe('Every token issued before this stopped working') })
  .openapi('RevokedTokens');
