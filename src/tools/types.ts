import type { ToolSpec } from '../providers/types';

export type { ToolSpec } from '../providers/types';

/**
 * What a tool call gave back, as the model sees it: `result` is bounded (TOOL_RESULT_MAX_BYTES)
 * and, when cut, ends with TRUNCATION_MARKER; `error` is set when the call failed (bad
 * arguments, a refused path, a non-zero exit, an unreachable MCP server) and is what the model is
 * told. A tool never throws for such failures: the run goes on and the model decides.
 */
export interface ToolOutcome {
  result: string;
  truncated: boolean;
  error?: string;
  /** Sandbox time used, billed at the tool price per second (0 for tools that run no process). */
  sandboxMs: number;
}

/** Bytes of a tool result the model sees; the rest is cut with TRUNCATION_MARKER. */
export const TOOL_RESULT_MAX_BYTES = 16 * 1024;
export const TRUNCATION_MARKER = '\n[… output truncated by Runway]';

/** The built-in workspace tools, by the names a run's `tools` lists them. */
export const WORKSPACE_TOOL_NAMES = ['read_file', 'write_file', 'edit_file', 'list_files', 'search', 'run_command'] as const;
export type WorkspaceToolName = (typeof WORKSPACE_TOOL_NAMES)[number];

/** An MCP server a run may call (Streamable HTTP); headers are secrets, sealed with the run's. */
export interface McpServerSpec {
  url: string;
  headers?: Record<string, string>;
  allowedTools?: string[];
  requireApproval?: boolean | string[];
}

/** A tool an MCP server offered, with the server (its index in the run's MCP list) that serves it. */
export interface McpToolSpec extends ToolSpec {
  server: number;
}

/**
 * A run's tools as stored with it (no secrets: an MCP server's headers are sealed with the run's
 * secrets, under the server's index among the run's MCP servers).
 */
export type RunTool =
  | { type: 'workspace'; name: WorkspaceToolName }
  | { type: 'mcp'; url: string; allowedTools?: string[] };

/** What a run's MCP servers offered at its start (each server's failure is told to the model, not fatal). */
export interface McpListing {
  tools: McpToolSpec[];
  errors: { server: number; error: string }[];
}

/** A model turn of an agent run, as its step records it. */
export interface ModelStepData {
  text: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  usage: { inputTokens: number; outputTokens: number };
  /** Credits this turn added to the run's bill. */
  cost: number;
  attempt: number;
  /** The turn was cut at its token cap (absent on turns recorded before this was kept: not cut). */
  truncated?: boolean;
}

/** A tool call of an agent run; `result` is absent until the call has finished. */
export interface ToolStepData {
  callId: string;
  name: string;
  arguments: string;
  /** The model step that asked for this call. */
  turn: number;
  result?: string;
  truncated?: boolean;
  error?: string;
  durationMs?: number;
  sandboxMs?: number;
  cost?: number;
}
