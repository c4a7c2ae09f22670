import type { Db } from '../db/database';
import type { RunRow } from '../db/schema';
import { getSessionContextTokens, sessionTurnsBefore } from '../db/sessions';
import type { ModelMessage, ModelProvider } from '../providers/types';

/**
 * The model input of a run: its prompt, preceded (for a session request) by the session's earlier
 * prompts and outputs that fit the session's context budget, newest turns kept first.
 */
export async function buildModelMessages(db: Db, run: RunRow, provider: ModelProvider): Promise<ModelMessage[]> {
  const current: ModelMessage = { role: 'user', content: run.prompt };
  if (!run.session_id) return [current];
  const contextTokens = await getSessionContextTokens(db, run.session_id);
  if (!contextTokens) return [current];
  const estimate = (text: string) => provider.estimateInputTokens([{ role: 'user', content: text }], run.model);
  const turns = await sessionTurnsBefore(db, run.session_id, run.seq, contextTokens, estimate);
  return [
    ...turns.flatMap((t): ModelMessage[] => [
      { role: 'user', content: t.prompt },
      { role: 'assistant', content: t.output },
    ]),
    current,
  ];
}
