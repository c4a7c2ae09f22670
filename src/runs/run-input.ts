import type { RunRow, WorkspaceSpec } from '../db/schema';
import type { AgentSpec, RunWorkflowInput, SealedBox } from '../../workflows/types';
import type { RunTool } from '../tools/types';
import type { AdmissionRequest } from './admission';

/**
 * What starting an admitted run's workflow takes: its input, and the model and prompt its memo
 * shows (the row holds them; the workflow does not read them).
 */
export interface RunStart {
  input: RunWorkflowInput;
  model: string;
  prompt: string;
}

/** The start of a run the admitting API has just admitted (`seq`: its admission order). */
export function runStartOfAdmission(admitted: AdmissionRequest, seq: number): RunStart {
  const { runId, accountId, user, sessionId, workspace, sealedSecrets, model, prompt } = admitted;
  const agent = admitted.agent ? agentSpecOf(admitted.agent.tools, admitted.agent.maxSteps) : undefined;
  return { input: { runId, accountId, user, sessionId, seq, workspace, sealedSecrets, ...(agent ? { agent } : {}) }, model, prompt };
}

/** The start of a run rebuilt from its row and its outbox entry (a relay starting a run another process admitted). */
export function runStartOf(run: RunRow, sealedSecrets: SealedBox | null): RunStart {
  const input: RunWorkflowInput = {
    runId: run.id,
    accountId: run.account_id,
    user: run.user_id,
    sessionId: run.session_id,
    seq: run.seq,
    workspace: (run.workspace as WorkspaceSpec | null) ?? null,
    sealedSecrets,
    ...(run.tools && run.max_steps ? { agent: agentSpecOf(run.tools, run.max_steps) } : {}),
  };
  return { input, model: run.model, prompt: run.prompt };
}

/** What an agent run's workflow needs to know of its tools: its turn limit, and whether MCP servers must be listed first. */
function agentSpecOf(tools: RunTool[], maxSteps: number): AgentSpec {
  return { maxSteps, mcp: tools.some((t) => t.type === 'mcp') };
}
