import type { ModelMessage, ToolSpec } from '../providers/types';
import type { McpListing, ModelStepData, RunTool, ToolStepData, WorkspaceToolName } from './types';
import { workspaceToolSpecs } from './workspace-tools';

/** What an agent run's model is offered: its built-in workspace tools, then what its MCP servers listed. */
export function toolSpecsOf(tools: RunTool[], mcp: McpListing | null): ToolSpec[] {
  const names = tools.flatMap((t): WorkspaceToolName[] => (t.type === 'workspace' ? [t.name] : []));
  const offered = (mcp?.tools ?? []).map(({ name, description, parameters }) => ({ name, description, parameters }));
  return [...workspaceToolSpecs(names), ...offered];
}

/**
 * An agent run's transcript as a conversation to continue: its turns and its tools' answers. A
 * turn whose calls did not all get an answer (the run was stopped among them) keeps its text
 * only, and answers to no call are left out: providers refuse either.
 */
export function transcriptMessages(steps: { kind: 'model' | 'tool'; data: ModelStepData | ToolStepData }[]): ModelMessage[] {
  const answered = new Set(steps.flatMap((s) => (s.kind === 'tool' && (s.data as ToolStepData).result !== undefined ? [(s.data as ToolStepData).callId] : [])));
  const asked = new Set<string>();
  const messages: ModelMessage[] = [];
  for (const step of steps) {
    if (step.kind === 'model') {
      const turn = step.data as ModelStepData;
      const complete = turn.toolCalls.every((c) => answered.has(c.id));
      if (complete) turn.toolCalls.forEach((c) => asked.add(c.id));
      messages.push(...messagesOfStep('model', complete ? turn : { ...turn, toolCalls: [] }));
    } else if (asked.has((step.data as ToolStepData).callId)) {
      messages.push(...messagesOfStep('tool', step.data));
    }
  }
  return messages;
}

/** A finished step as the model sees it again: its own turn, or a tool's answer. */
function messagesOfStep(kind: 'model' | 'tool', data: ModelStepData | ToolStepData): ModelMessage[] {
  if (kind === 'model') {
    const turn = data as ModelStepData;
    return [{ role: 'assistant', content: turn.text, ...(turn.toolCalls.length > 0 ? { toolCalls: turn.toolCalls } : {}) }];
  }
  const call = data as ToolStepData;
  const content = call.error !== undefined ? `Error: ${call.error}${call.result ? `\n${call.result}` : ''}` : (call.result ?? '');
  return [{ role: 'tool', toolCallId: call.callId, name: call.name, content }];
}
