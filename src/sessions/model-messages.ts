import type { Db } from '../db/database';
import type { RunRow } from '../db/schema';
import { sessionTurnsBefore } from '../db/sessions';
import type { ModelMessage, ModelProvider } from '../providers/types';

/**
 * The model input of a run: its prompt, preceded (for a session request) by the session's earlier
 * prompts and outputs that fit the session's context budget, newest turns kept first.
 */
export async function buildModelMessages(db: Db, run: RunRow, provider: ModelProvider): Promise<ModelMessage[]> {
  const current: ModelMessage = { role: 'user', content: run.prompt };
  if (!run.session_id) return [current];
  const session = await db.selectFrom('sessions').select('context_tokens').where('id', '=', run.session_id).executeTakeFirst();
  if (!session || session.context_tokens === 0) return [current];
  const estimate = (text: string) => provider.estimateInputTokens([{ role: 'user', content: text }]);
  const turns = await sessionTurnsBefore(db, run.session_id, run.seq, session.context_tokens, estimate);
  return [
    ...turns.flatMap((t): ModelMessage[] => [
      { role: 'user', content: t.prompt },
      { role: 'assistant', content: t.output },
    ]),
    current,
  ];
}
