import path from 'node:path';
import { z } from 'zod';

/** One operator-configured local agent, served as `cli/<name>`. */
export const cliAgentSchema = z
  .object({
    /** Executable: an absolute path, or a name looked up in the agent's PATH. Never run through a shell. */
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    /** How the prompt reaches the agent: written to its stdin, or appended as the last argument, after `--`. */
    prompt: z.enum(['stdin', 'arg']).default('stdin'),
    timeoutMs: z.number().int().min(100).max(24 * 3600 * 1000).default(600_000),
    /** Bytes of stdout and stderr together per attempt: tokens are counted in words, so bytes need a cap of their own. */
    maxOutputBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
    /** Extra variables the operator chooses to give the agent (its own model key, say). */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name'), z.string()).default({}),
    /** Outbound network from the sandbox (public addresses only): agents usually call a model API. */
    network: z.boolean().default(true),
    /** Host folders the sandbox shows read-only at the same path: the agent's installation outside /usr. */
    readOnlyPaths: z.array(z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path')).default([]),
  })
  .strict();

export const cliAgentTableSchema = z.record(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'agent names use letters, digits, ".", "_" and "-"'),
  cliAgentSchema,
);

export type CliAgentConfig = z.infer<typeof cliAgentSchema>;
export type CliAgentTable = z.infer<typeof cliAgentTableSchema>;

/** Parses RUNWAY_CLI_AGENTS; the error lists every problem so start-up fails with a clear message. */
export function parseCliAgents(json: string | undefined): { agents: CliAgentTable } | { error: string } {
  if (!json) return { agents: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { error: 'not valid JSON' };
  }
  const parsed = cliAgentTableSchema.safeParse(raw);
  if (!parsed.success) {
    return { error: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ') };
  }
  return { agents: parsed.data };
}
