import { ApplicationFailure } from '@temporalio/activity';
import { getRunById } from '../src/db/runs';
import { recordMcpListing } from '../src/db/run-steps';
import { listMcpTools } from '../src/tools/mcp-tools';
import type { McpListing, RunTool } from '../src/tools/types';
import type { SealedBox } from '../workflows/types';
import type { ActivityDeps } from './deps';
import { mcpServersOf, runSecretsOf } from './run-secrets';

/**
 * Reads what an agent run's MCP servers offer, once, at its start: the listing is stored with the
 * run and every turn offers the same tools. A server that cannot be reached offers nothing (the
 * run goes on with the others); a retried step keeps the first listing.
 */
export function listRunToolsActivity(deps: ActivityDeps) {
  return async function listRunTools(input: { runId: string; sealedSecrets: SealedBox | null }): Promise<{ tools: number; errors: number }> {
    const run = await getRunById(deps.db, input.runId);
    if (!run) throw ApplicationFailure.nonRetryable(`run ${input.runId} not found`, 'run_not_found');
    const listed = run.mcp_tools ?? (await recordMcpListing(deps.db, input.runId, await listNow(deps, run.tools ?? [], input)));
    return { tools: listed.tools.length, errors: listed.errors.length };
  };
}

async function listNow(deps: ActivityDeps, tools: RunTool[], input: { runId: string; sealedSecrets: SealedBox | null }): Promise<McpListing> {
  const servers = mcpServersOf(tools, runSecretsOf(deps.secretsKey, input.runId, input.sealedSecrets));
  return listMcpTools(servers, { allowPrivate: false, ...deps.mcp });
}
