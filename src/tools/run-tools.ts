import type { ModelMessage, ToolSpec } from '../providers/types';
import type { McpListing, ModelStepData, RunTool, ToolStepData, WorkspaceToolName } from './types';
import { workspaceToolSpecs } from './workspace-tools';

/** What an agent run's model is offered: its built-in workspace tools, then what its MCP servers listed. */
export function toolSpecsOf(tools: RunTool[], mcp: McpListing | null): ToolSpec[] {
  const names = tools.flatMap((t): WorkspaceToolName[] => (t.type === 'workspace' ? [t.name] : []));
  const offered = (mcp?.tools ?? []).map(({ name, description, parameters }) => ({ name, description, parameters }));
  return [...workspaceToolSpecs(names), ...offered];
}

/** A finished step as the model sees it again: its own turn, or a tool's answer. */
export function messagesOfStep(kind: 'model' | 'tool', data: ModelStepData | ToolStepData): ModelMessage[] {
  if (kind === 'model') {
    const turn = data as ModelStepData;
    return [{ role: 'assistant', content: turn.text, ...(turn.toolCalls.length > 0 ? { toolCalls: turn.toolCalls } : {}) }];
  }
  const call = data as ToolStepData;
  const content = call.error !== undefined ? `Error: ${call.error}${call.result ? `\n${call.result}` : ''}` : (call.result ?? '');
  return [{ role: 'tool', toolCallId: call.callId, name: call.name, content }];
}
