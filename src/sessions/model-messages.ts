import type { Db } from '../db/database';
import { finishedStepsBefore } from '../db/run-steps';
import type { RunRow } from '../db/schema';
import { getSessionContextTokens, sessionTurnsBefore, type SessionTurn } from '../db/sessions';
import type { ModelMessage, ModelProvider } from '../providers/types';
import { transcriptMessages } from '../tools/run-tools';
import type { ModelStepData, ToolStepData } from '../tools/types';

/**
 * The model input of a run: its prompt, preceded (for a session request) by the session's earlier
 * turns that fit the session's context budget, newest turns kept first. An earlier agent run is
 * its whole transcript (its tool calls and their results) when that fits too, else its prompt
 * and final answer.
 */
export async function buildModelMessages(db: Db, run: RunRow, provider: ModelProvider): Promise<ModelMessage[]> {
  const current: ModelMessage = { role: 'user', content: run.prompt };
  if (!run.session_id) return [current];
  const contextTokens = await getSessionContextTokens(db, run.session_id);
  if (!contextTokens) return [current];
  const estimate = (text: string) => provider.estimateInputTokens([{ role: 'user', content: text }], run.model);
  const turns = await sessionTurnsBefore(db, run.session_id, run.seq, contextTokens, estimate);
  let spare = contextTokens - turns.reduce((sum, t) => sum + estimate(t.prompt) + estimate(t.output), 0);
  const context: ModelMessage[][] = [];
  // Newest first: a recent transcript is worth more than an old one.
  for (const turn of [...turns].reverse()) {
    const short: ModelMessage[] = [{ role: 'user', content: turn.prompt }, { role: 'assistant', content: turn.output }];
    // Nothing left of the budget: no transcript can fit, and none is read.
    const full = spare > 0 ? await transcriptOf(db, turn) : null;
    // The transcript stands for the final answer (the prompt is sent either way).
    const extra = full ? provider.estimateInputTokens(full, run.model) - estimate(turn.output) : 0;
    if (full && extra <= spare) {
      spare -= extra;
      context.unshift([{ role: 'user', content: turn.prompt }, ...full]);
    } else {
      context.unshift(short);
    }
  }
  return [...context.flat(), current];
}

/** An earlier agent run's transcript as messages; null for a plain run. */
async function transcriptOf(db: Db, turn: SessionTurn): Promise<ModelMessage[] | null> {
  if (turn.step_count === 0) return null;
  const steps = await finishedStepsBefore(db, turn.id, turn.step_count);
  const messages = transcriptMessages(steps.map((s) => ({ kind: s.kind, data: s.data as ModelStepData | ToolStepData })));
  return messages.length > 0 ? messages : null;
}
