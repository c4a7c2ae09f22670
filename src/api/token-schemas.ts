import { z } from 'zod';
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { DEFAULT_TOKEN_SECONDS, MAX_TOKEN_SECONDS, PERMISSIONS } from '../tokens/scoped-tokens';
import { endUserSchema } from './schemas';

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

export const createTokenSchema = z
  .object({
    scope: tokenScopeSchema,
    permissions: z.array(z.enum(PERMISSIONS)).min(1).max(3).default(['read']),
    expiresIn: z.number().int().min(1).max(MAX_TOKEN_SECONDS).default(DEFAULT_TOKEN_SECONDS).describe('Seconds'),
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
  })
  .openapi('CreatedToken');

export const revokedTokensSchema = z
  .object({ revokedAt: z.string().describe('Every token issued before this stopped working') })
  .openapi('RevokedTokens');
