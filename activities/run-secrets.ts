import { unseal } from '../src/secrets/sealed-box';
import type { McpServerSpec, RunTool } from '../src/tools/types';
import type { SealedBox } from '../workflows/types';

/** What a run's sealed secrets hold: its own provider key, and the headers of its MCP servers by their index among its MCP servers. */
export interface RunSecrets {
  apiKey?: string;
  mcpHeaders?: Record<string, Record<string, string>>;
}

/** The run's secrets, opened (none when it was admitted without any). */
export function runSecretsOf(secretsKey: Buffer, runId: string, sealed: SealedBox | null): RunSecrets {
  return sealed ? unseal<RunSecrets>(secretsKey, runId, sealed) : {};
}

/** The run's MCP servers as the client reaches them: each with its allowed tools and its headers. */
export function mcpServersOf(tools: RunTool[], secrets: RunSecrets): McpServerSpec[] {
  return tools
    .flatMap((t) => (t.type === 'mcp' ? [t] : []))
    .map((t, i) => {
      const headers = secrets.mcpHeaders?.[String(i)];
      return { url: t.url, ...(t.allowedTools ? { allowedTools: t.allowedTools } : {}), ...(headers ? { headers } : {}) };
    });
}
