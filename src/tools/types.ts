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
