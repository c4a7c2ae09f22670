import { ApplicationFailure, CancelledFailure, continueAsNew, upsertMemo } from '@temporalio/workflow';
import { listRunTools, stepsOn } from './run-steps';
import type { RunTracker } from './run-tracker';
import { AGENT_TURNS_PER_RUN, type AgentCarry, type AgentSpec, type RunWorkflowInput } from './types';

/** Where an agent run's steps happen (its workspace and the host that holds it). */
export interface AgentPlace {
  workspacePath: string | null;
  hostQueue: string | null;
}

/**
 * An agent run's loop: a model turn, then each tool call it asked for, one step each, until the
 * model answers without a tool call. It ends early (failed, keeping what it produced) at
 * `maxSteps` turns or when the reservation cannot pay for another turn. History holds step
 * numbers only (the transcript is in the database); every AGENT_TURNS_PER_RUN turns the loop
 * continues as a new run with its place in `carried`, so a 500-turn run stays far from
 * Temporal's history limits.
 */
export async function agentLoop(input: RunWorkflowInput, agent: AgentSpec, run: RunTracker, place: AgentPlace): Promise<{ truncated: boolean }> {
  const { runId, sealedSecrets } = input;
  const { workspacePath, hostQueue } = place;
  let { nextStep, turns } = agent.carried ?? { nextStep: 0, turns: 0 };
  if (!agent.carried && agent.mcp) await listRunTools({ runId, sealedSecrets });
  const steps = stepsOn(hostQueue);
  for (let turnsHere = 0; ; turnsHere++) {
    if (turnsHere === AGENT_TURNS_PER_RUN) {
      // A stop whose step completed anyway would otherwise be lost: the next run knows nothing of it.
      if (run.stopRequested) throw new CancelledFailure('the run was stopped');
      const carried: AgentCarry = { nextStep, turns, workspacePath, hostQueue };
      await continueAsNew<(input: RunWorkflowInput) => Promise<unknown>>({ ...input, agent: { ...agent, carried } });
    }
    const turn = nextStep++;
    const result = await steps.executeModel({ runId, sealedSecrets, workspacePath, step: turn });
    if (result.stopped) {
      run.stoppedBy();
      throw new CancelledFailure('the run was stopped');
    }
    if (result.capReached) throw ApplicationFailure.nonRetryable('the run reached its spend cap (maxCredits) before its next model turn', 'spend_cap_reached');
    turns++;
    upsertMemo({ steps: nextStep + (result.toolCalls ?? 0) });
    if (!result.toolCalls) return { truncated: result.truncated };
    if (turns >= agent.maxSteps) throw ApplicationFailure.nonRetryable(`the model still called tools after maxSteps (${agent.maxSteps}) turns`, 'max_steps_reached');
    for (let call = 0; call < result.toolCalls; call++) {
      await steps.runTool({ runId, sealedSecrets, workspacePath, turn, call, step: nextStep++ });
    }
  }
}
