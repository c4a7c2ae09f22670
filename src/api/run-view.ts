import type { RunRow, RunProgress, RunError, WorkspaceSpec } from '../db/schema';
import type { RunView } from './schemas';

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
  };
}

export function runLinks(id: string) {
  return { self: `/v1/runs/${id}`, events: `/v1/runs/${id}/events`, stop: `/v1/runs/${id}/stop` };
}
