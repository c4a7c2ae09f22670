import { InvalidAgentRequest } from './errors';
import { DEFAULT_MAX_STEPS } from '../../workflows/types';
import { mcpSpecProblem } from '../tools/mcp-spec';
import { WORKSPACE_TOOL_NAMES, type RunTool, type ToolSpec, type WorkspaceToolName } from '../tools/types';
import { workspaceToolSpecs } from '../tools/workspace-tools';

/** A tool as a request names it: a built-in workspace tool, all of them (`workspace`), or an MCP server. */
export type RunToolRequest =
  | WorkspaceToolName
  | 'workspace'
  | { type: 'mcp'; url: string; headers?: Record<string, string>; allowedTools?: string[] };

/** The agent fields of a run request (defaults not applied: they depend on `tools`). */
export interface AgentRequestFields {
  tools?: RunToolRequest[];
  maxSteps?: number;
}

/** An agent run's admitted shape, and the MCP headers to seal with its secrets (by the server's index among its MCP servers). */
export interface AgentAdmission {
  agent: { tools: RunTool[]; maxSteps: number; toolPrice: number };
  mcpHeaders: Record<string, Record<string, string>>;
}

/**
 * Checks and normalizes a run's tools: `workspace` stands for every built-in tool, a tool named
 * twice counts once, MCP headers leave the stored list (they are sealed with the run's
 * secrets). Null for a plain run.
 */
export function agentAdmissionOf(
  request: AgentRequestFields & { model: string },
  where: { hasWorkspace: boolean; toolPricePerSecond: number; mcpAllowPrivate: boolean },
): AgentAdmission | null {
  const requested = request.tools ?? [];
  if (requested.length === 0) {
    if (request.maxSteps !== undefined) throw new InvalidAgentRequest([{ path: 'maxSteps', message: 'maxSteps needs tools' }]);
    return null;
  }
  if (request.model.startsWith('cli/')) {
    throw new InvalidAgentRequest([{ path: 'tools', message: 'a CLI agent runs its own tools: tools are for model runs' }]);
  }
  const builtIn = builtInNames(requested);
  if (builtIn.size > 0 && !where.hasWorkspace) {
    throw new InvalidAgentRequest([{ path: 'tools', message: 'workspace tools need a workspace (the run\'s, or its session\'s)' }]);
  }
  const mcp = requested.flatMap((t) => (typeof t === 'object' ? [t] : []));
  assertMcpServers(mcp, where.mcpAllowPrivate);
  const mcpHeaders: Record<string, Record<string, string>> = {};
  mcp.forEach((server, i) => {
    if (server.headers && Object.keys(server.headers).length > 0) mcpHeaders[String(i)] = server.headers;
  });
  const tools: RunTool[] = [
    ...WORKSPACE_TOOL_NAMES.filter((n) => builtIn.has(n)).map((name) => ({ type: 'workspace' as const, name })),
    ...mcp.map((s) => ({ type: 'mcp' as const, url: s.url, ...(s.allowedTools ? { allowedTools: s.allowedTools } : {}) })),
  ];
  return { agent: { tools, maxSteps: request.maxSteps ?? DEFAULT_MAX_STEPS, toolPrice: where.toolPricePerSecond }, mcpHeaders };
}

/** The built-in tools a list names (`workspace`: all of them), each once. */
function builtInNames(requested: RunToolRequest[]): Set<WorkspaceToolName> {
  return new Set(requested.flatMap((t) => (t === 'workspace' ? [...WORKSPACE_TOOL_NAMES] : typeof t === 'string' ? [t] : [])));
}

/** An agent run's MCP servers at most (its tools are listed from all of them at once). */
export const MAX_MCP_SERVERS = 8;

/**
 * MCP servers a run may call: few, well-formed, and over https (their headers are secrets),
 * unless the operator allows private addresses for development. Where the address leads is
 * checked when the worker connects (src/net/address-policy.ts).
 */
function assertMcpServers(servers: { url: string; headers?: Record<string, string> }[], allowPrivate: boolean): void {
  if (servers.length > MAX_MCP_SERVERS) throw new InvalidAgentRequest([{ path: 'tools', message: `at most ${MAX_MCP_SERVERS} MCP servers` }]);
  servers.forEach((server, i) => {
    const problem = mcpSpecProblem(server) ?? (!allowPrivate && !server.url.toLowerCase().startsWith('https://') ? 'the MCP server URL must be https' : undefined);
    if (problem) throw new InvalidAgentRequest([{ path: `tools.mcp[${i}]`, message: problem }]);
  });
}

/**
 * The tools a run's first turn is known to offer, for its estimate: the built-in ones it asked
 * for, and one stand-in per MCP server (its tools are listed only when the run starts), so the
 * tool framing is paid for.
 */
export function offeredAtAdmission(requested: RunToolRequest[] | undefined): ToolSpec[] | undefined {
  if (!requested?.length) return undefined;
  const names = builtInNames(requested);
  const servers = requested.filter((t) => typeof t === 'object').map((_, i) => ({ name: `mcp_${i}`, description: '', parameters: {} }));
  return [...workspaceToolSpecs(WORKSPACE_TOOL_NAMES.filter((n) => names.has(n))), ...servers];
}

/** The request without its MCP headers: what an Idempotency-Key's hash covers (secrets are not part of it). */
export function withoutToolSecrets<T extends AgentRequestFields>(request: T): T {
  if (!request.tools) return request;
  return { ...request, tools: request.tools.map((t) => (typeof t === 'object' ? { ...t, headers: undefined } : t)) };
}
