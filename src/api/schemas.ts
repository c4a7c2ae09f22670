import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { CreateRunRequest as RunInput } from '../runs/requests';
import type { CreateSessionRequest as SessionInput, SessionRequestBody as SessionRequestInput } from '../sessions/requests';
import { RUN_STATUSES } from '../../workflows/run-vocabulary';
import { DEFAULT_MAX_STEPS, MAX_MAX_STEPS } from '../../workflows/types';
import { WORKSPACE_TOOL_NAMES } from '../tools/types';

extendZodWithOpenApi(z);

/** A parsed body must be the domain's input type: if a schema drifts from it, typecheck fails here. */
type Fits<Parsed extends Domain, Domain> = Parsed;

/** Request and response shapes: the same schemas validate requests and generate /openapi.json. */

const MAX_METADATA_BYTES = 16 * 1024;

export const workspaceSchema = z
  .object({
    repo: z.string().min(1).max(2048).describe('https URL on the allow-list, or a local path under the allowed root'),
    ref: z.string().min(1).max(255).optional(),
    branch: z.string().min(1).max(255).optional(),
    setup: z.array(z.string().min(1).max(4096)).max(20).optional(),
  })
  .strict()
  .openapi('WorkspaceSpec');

/** A workspace as runs and sessions show it: the spec and where it was prepared (a schema of its own, so null is allowed beside it). */
const workspaceViewSchema = z
  .object({ ...workspaceSchema.shape, path: z.string().nullable() })
  .openapi('Workspace');

export const metadataSchema = z
  .record(z.string().max(128), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, {
    message: `metadata must be at most ${MAX_METADATA_BYTES} bytes of JSON`,
  });

export const secretsSchema = z
  .object({
    // Visible ASCII only: a key is sent as an HTTP header, where control characters are refused.
    apiKey: z.string().min(1).max(4096).regex(/^[\x21-\x7e]+$/, 'must be visible ASCII characters').optional(),
  })
  .strict()
  .describe('Used for this run only; never stored in clear text');

/** A tool name as providers accept it. */
const toolNameSchema = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -');

export const mcpServerSchema = z
  .object({
    type: z.literal('mcp'),
    url: z
      .string()
      .max(2048)
      .url()
      .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
      .describe('Streamable HTTP endpoint; private and metadata addresses are refused unless the operator allows them'),
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'must be an HTTP header name'), z.string().max(8192).regex(/^[\x20-\x7e]*$/, 'must be visible ASCII'))
      .refine((h) => Object.keys(h).length <= 32, 'at most 32 headers')
      .optional()
      .describe('Sent with every request to the server; secrets, sealed like the run\'s other secrets and never shown'),
    allowedTools: z.array(toolNameSchema).min(1).max(128).optional().describe('Only these of the server\'s tools are offered to the model'),
  })
  .strict()
  .openapi('McpServer');

export const runToolSchema = z
  .union([z.enum([...WORKSPACE_TOOL_NAMES, 'workspace']), mcpServerSchema])
  .describe('A built-in workspace tool (`workspace`: all of them), or an MCP server');

/** What makes a run an agent run; shared by runs and session requests. */
const agentFields = {
  tools: z.array(runToolSchema).min(1).max(16).optional().describe('Makes the run an agent run: the model may call these tools'),
  maxSteps: z.number().int().min(1).max(MAX_MAX_STEPS).optional().describe(`Model turns of an agent run (default ${DEFAULT_MAX_STEPS})`),
  maxCredits: z
    .number()
    .int()
    .min(1)
    .max(Number.MAX_SAFE_INTEGER / 4)
    .optional()
    .describe('The run\'s spend cap, reserved up front; default: what maxTokens costs, once per turn of an agent run'),
};

export const modelNameSchema = z
  .string()
  .max(200)
  .regex(/^[a-z0-9][a-z0-9-]*\/[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'must look like <provider>/<model>');

/** An end-user id, chosen by the account's backend. */
export const endUserSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -')
  .describe('The end user this serves, as the account\'s backend names them');

export const createRunSchema = z
  .object({
    prompt: z.string().min(1).max(200_000),
    model: modelNameSchema.default('demo/echo'),
    maxTokens: z.number().int().min(1).max(200_000).default(512),
    workspace: workspaceSchema.optional(),
    secrets: secretsSchema.optional(),
    metadata: metadataSchema.default({}),
    sessionId: z.string().regex(/^ses_[0-9a-z]{1,64}$/).optional(),
    user: endUserSchema.optional(),
    ...agentFields,
  })
  .strict()
  .openapi('CreateRun');
export type CreateRunRequest = Fits<z.infer<typeof createRunSchema>, RunInput>;

export const retryRunSchema = z.object({ secrets: secretsSchema.optional() }).strict().openapi('RetryRun');

export const runStatusSchema = z.enum(RUN_STATUSES);

export const listQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export const listRunsQuerySchema = listQuerySchema.extend({
  status: runStatusSchema.optional(),
  sessionId: z.string().max(80).optional(),
  user: endUserSchema.optional(),
});

export const listSessionsQuerySchema = listQuerySchema.extend({
  status: z.enum(['open', 'closing', 'closed']).optional(),
  user: endUserSchema.optional(),
});

export const createAccountSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    credits: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER / 4).default(0),
    maxActiveRuns: z.number().int().min(1).max(10_000).optional(),
    maxActiveRunsPerUser: z.number().int().min(1).max(10_000).optional().describe('Cap on one end user\'s active runs'),
  })
  .strict()
  .openapi('CreateAccount');

export const addCreditsSchema = z
  .object({
    amount: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER / 4),
    reason: z.string().max(500).optional(),
  })
  .strict()
  .openapi('AddCredits');

export const runSchema = z
  .object({
    id: z.string(),
    status: runStatusSchema,
    step: z.enum(['reserve', 'prepare', 'execute', 'settle', 'cleanup', 'done']),
    progress: z.object({ step: z.string(), message: z.string().optional(), pct: z.number().optional() }).nullable(),
    model: z.string(),
    prompt: z.string(),
    maxTokens: z.number().int(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    completedAt: z.string().nullable(),
    cost: z.object({ estimate: z.number().int(), charged: z.number().int(), refunded: z.number().int() }),
    usage: z.object({ inputTokens: z.number().int(), outputTokens: z.number().int() }),
    output: z.string(),
    truncated: z.boolean(),
    attempt: z.number().int(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    workspace: workspaceViewSchema.nullable(),
    metadata: z.record(z.string(), z.unknown()),
    userMetadata: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe('Metadata written by a scoped token\'s holder (an end user), never mixed into the account\'s metadata; null when the account\'s key created it'),
    sessionId: z.string().nullable(),
    user: z.string().nullable(),
    retryOf: z.string().nullable(),
    tools: z
      .array(z.union([z.object({ type: z.literal('workspace'), name: z.enum(WORKSPACE_TOOL_NAMES) }), z.object({ type: z.literal('mcp'), url: z.string(), allowedTools: z.array(z.string()).optional() })]))
      .nullable()
      .describe('An agent run\'s tools (MCP headers are never shown); null for a plain run'),
    maxSteps: z.number().int().nullable().describe('An agent run\'s limit of model turns; null for a plain run'),
    steps: z.number().int().describe('Steps recorded so far (model turns and tool calls); see /v1/runs/{id}/steps'),
  })
  .openapi('Run');

const stepTimes = {
  index: z.number().int(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
};

export const runStepSchema = z
  .union([
    z.object({
      ...stepTimes,
      kind: z.literal('model'),
      text: z.string(),
      toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })),
      usage: z.object({ inputTokens: z.number().int(), outputTokens: z.number().int() }),
      cost: z.number().int().describe('Credits this turn added to the run\'s bill'),
      durationMs: z.number().int().nullable(),
    }),
    z.object({
      ...stepTimes,
      kind: z.literal('tool'),
      callId: z.string(),
      name: z.string(),
      arguments: z.string().describe('The model\'s JSON text'),
      result: z.string().nullable().describe('What the model was told (bounded); null until the call finished'),
      truncated: z.boolean(),
      error: z.string().nullable(),
      durationMs: z.number().int().nullable(),
      cost: z.number().int().describe('Credits of its sandbox time'),
    }),
  ])
  .openapi('RunStep');
export type RunStepView = z.infer<typeof runStepSchema>;

export const listStepsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});
export type RunView = z.infer<typeof runSchema>;

export const runAcceptedSchema = z
  .object({
    id: z.string(),
    status: runStatusSchema,
    createdAt: z.string(),
    estimate: z.number().int(),
    links: z.object({ self: z.string(), events: z.string(), stop: z.string() }),
    publicAccessToken: z.string().describe('Read access to this run for 15 minutes, for a browser'),
  })
  .openapi('RunAccepted');

export const accountSchema = z
  .object({ id: z.string(), name: z.string(), balance: z.number().int(), reserved: z.number().int() })
  .openapi('Account');

export const createdAccountSchema = z
  .object({ id: z.string(), name: z.string(), apiKey: z.string(), balance: z.number().int() })
  .openapi('CreatedAccount');

export const ledgerEntrySchema = z
  .object({
    id: z.string(),
    runId: z.string().nullable(),
    kind: z.enum(['credit', 'reserve', 'charge', 'refund', 'overrun']),
    amount: z.number().int(),
    balanceAfter: z.number().int(),
    reservedAfter: z.number().int(),
    reason: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('LedgerEntry');

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

export function pageOf<T extends z.ZodTypeAny>(item: T) {
  return z.object({ data: z.array(item), nextCursor: z.string().nullable() });
}

export const createSessionSchema = z
  .object({
    model: modelNameSchema.default('demo/echo'),
    maxTokens: z.number().int().min(1).max(200_000).default(512),
    contextTokens: z.number().int().min(0).max(200_000).default(2000).describe('Budget of earlier turns sent with each request'),
    workspace: workspaceSchema.optional(),
    metadata: metadataSchema.default({}),
    multitask: z.enum(['enqueue', 'reject', 'interrupt']).default('enqueue'),
    user: endUserSchema.optional(),
  })
  .strict()
  .openapi('CreateSession');
export type CreateSessionRequest = Fits<z.infer<typeof createSessionSchema>, SessionInput>;

export const sessionRequestSchema = z
  .object({
    prompt: z.string().min(1).max(200_000),
    maxTokens: z.number().int().min(1).max(200_000).optional(),
    secrets: secretsSchema.optional(),
    metadata: metadataSchema.default({}),
    ...agentFields,
  })
  .strict()
  .openapi('SessionRequest');
export type SessionRequestBody = Fits<z.infer<typeof sessionRequestSchema>, SessionRequestInput>;

export const sessionSchema = z
  .object({
    id: z.string(),
    status: z.enum(['open', 'closing', 'closed']),
    model: z.string(),
    maxTokens: z.number().int(),
    contextTokens: z.number().int(),
    multitask: z.enum(['enqueue', 'reject', 'interrupt']),
    workspace: workspaceViewSchema.nullable(),
    metadata: z.record(z.string(), z.unknown()),
    userMetadata: z.record(z.string(), z.unknown()).nullable().describe('Metadata written by a scoped token\'s holder; null when the account\'s key created it'),
    user: z.string().nullable(),
    createdAt: z.string(),
    closedAt: z.string().nullable(),
    activeRequest: z.string().nullable(),
    queuedRequests: z.array(z.string()),
  })
  .openapi('Session');
export type SessionView = z.infer<typeof sessionSchema>;

export const sessionRequestAcceptedSchema = z
  .object({
    requestId: z.string(),
    runId: z.string(),
    status: runStatusSchema,
    estimate: z.number().int(),
    links: z.object({ self: z.string(), events: z.string(), run: z.string() }),
    publicAccessToken: z.string().describe('Read access to this request\'s run for 15 minutes, for a browser'),
  })
  .openapi('SessionRequestAccepted');
