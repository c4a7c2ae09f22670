import type { RunRow, RunProgress, RunError, WorkspaceSpec } from '../db/schema';
import type { RunStepView, RunView } from './schemas';
import type { RunStepRow } from '../db/run-steps';
import type { ModelStepData, ToolStepData } from '../tools/types';

/** The public shape of a run (the contract's Run): HTTP representation, so it lives at the edge. */
export function toRunView(row: RunRow): RunView {
  const workspace = row.workspace as WorkspaceSpec | null;
  return {
    id: row.id,
    status: row.status,
    step: row.step,
    progress: (row.progress as RunProgress | null) ?? null,
    model: row.model,
    prompt: row.prompt,
    maxTokens: row.max_tokens,
    createdAt: row.created_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    completedAt: row.completed_at?.toISOString() ?? null,
    cost: { estimate: row.estimate, charged: row.charged ?? 0, refunded: row.refunded ?? 0 },
    usage: { inputTokens: row.input_tokens, outputTokens: row.output_tokens },
    output: row.output,
    truncated: row.truncated,
    attempt: row.attempt,
    error: (row.error as RunError | null) ?? null,
    workspace: workspace ? { ...workspace, path: row.workspace_path } : null,
    metadata: row.metadata as Record<string, unknown>,
    userMetadata: row.user_metadata,
    sessionId: row.session_id,
    user: row.user_id,
    retryOf: row.retry_of,
    tools: row.tools,
    maxSteps: row.max_steps,
    steps: row.step_count,
  };
}

/** One step of an agent run's transcript, as `GET /v1/runs/{id}/steps` shows it. */
export function toRunStepView(row: RunStepRow): RunStepView {
  const times = {
    index: row.index,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
  const durationMs = row.finished_at ? row.finished_at.getTime() - row.started_at.getTime() : null;
  if (row.kind === 'model') {
    const d = row.data as ModelStepData;
    return { ...times, kind: 'model', text: d.text, toolCalls: d.toolCalls, usage: d.usage, cost: d.cost, durationMs };
  }
  const d = row.data as ToolStepData;
  return {
    ...times,
    kind: 'tool',
    callId: d.callId,
    name: d.name,
    arguments: d.arguments,
    result: d.result ?? null,
    truncated: d.truncated ?? false,
    error: d.error ?? null,
    durationMs: d.durationMs ?? null,
    cost: d.cost ?? 0,
  };
}

export function runLinks(id: string) {
  return { self: `/v1/runs/${id}`, events: `/v1/runs/${id}/events`, stop: `/v1/runs/${id}/stop` };
}
