import type { Db } from '../src/db/database';
import { beginModelStepIn, finishedStepsBefore, finishModelStep, type RunStepRow } from '../src/db/run-steps';
import type { Transaction } from 'kysely';
import type { Database, RunRow } from '../src/db/schema';
import { metrics } from '../src/metrics/metrics';
import { costOf, outputTokensAffordable, type Price, type Usage } from '../src/pricing';
import type { ModelMessage, ModelProvider, ToolCall, ToolSpec } from '../src/providers/types';
import { toolSpecsOf, transcriptMessages } from '../src/tools/run-tools';
import type { ModelStepData, ToolStepData } from '../src/tools/types';
import { truncate } from '../src/text';
import type { ExecuteResult } from '../workflows/types';

/** One model turn of an agent run: what it is sent, what it may spend, what it collects. */
export interface AgentTurn {
  tools: ToolSpec[];
  messages: ModelMessage[];
  inputTokens: number;
  /** Output tokens the rest of the run's reservation pays for (and at most `maxTokens`). */
  allowed: number;
  /** Usage of the run's finished turns: this turn's own is added to it. */
  base: Usage;
  price: Price;
  /** The reservation cannot pay for another turn: the run stops before it. */
  capReached: boolean;
  text: string[];
  toolCalls: ToolCall[];
}

/** The turn's step row begins with its attempt (in the attempt's transaction: one commit for both). */
export function beginTurn(runId: string, step: number, attempt: number) {
  return async (trx: Transaction<Database>): Promise<void> => {
    await beginModelStepIn(trx, runId, step, attempt);
    if (attempt === 1) metrics.agentSteps.inc({ kind: 'model' });
  };
}

/** The run's finished steps up to and including `step`: one read for the turn's check and its conversation. */
export function finishedStepsThrough(db: Db, runId: string, step: number): Promise<RunStepRow[]> {
  return finishedStepsBefore(db, runId, step + 1);
}

/**
 * The turn at `step` if it is recorded as finished (its activity's worker died before reporting
 * it): its result, without calling the model again. `steps`: the finished steps through `step`.
 */
export function recordedTurnIn(steps: RunStepRow[], step: number): ExecuteResult | null {
  const row = steps[steps.length - 1];
  if (row?.index !== step || row.kind !== 'model') return null;
  const data = row.data as ModelStepData;
  // A final turn cut at its cap settles the run as truncated, whichever attempt reports it.
  return { truncated: data.truncated ?? false, toolCalls: data.toolCalls.length };
}

/** The same, read from the database. */
export async function recordedTurn(db: Db, runId: string, step: number): Promise<ExecuteResult | null> {
  return recordedTurnIn(await finishedStepsThrough(db, runId, step), step);
}

/** What the run's reservation has left once `used` tokens and its tool steps are paid. */
export function creditsLeft(run: RunRow, used: Usage): number {
  return run.estimate - costOf({ input: run.price_input, output: run.price_output }, used) - run.tool_cost;
}

/**
 * The model is told which MCP servers offered nothing (unreachable, refused, failing), so it need
 * not guess. A reason may quote the server: it is quoted as a JSON string, data and not instructions.
 */
function unavailableTools(run: RunRow): ModelMessage[] {
  const errors = run.mcp_tools?.errors ?? [];
  if (errors.length === 0) return [];
  const lines = errors.map((e) => `- MCP server ${e.server}: ${JSON.stringify(e.error)}`);
  return [{ role: 'system', content: `Some tools are unavailable (each reason quoted):\n${lines.join('\n')}` }];
}

const sum = (a: Usage, b: Usage): Usage => ({ inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens });

/**
 * The turn at `step`: the run's context and transcript so far (`steps`: its finished steps before
 * this turn), its tools, and how much output the reservation still pays for once the earlier
 * turns and the tool steps are paid.
 */
export function agentTurnOf(run: RunRow, provider: ModelProvider, context: ModelMessage[], steps: RunStepRow[]): AgentTurn {
  const transcript = transcriptMessages(steps.map((s) => ({ kind: s.kind, data: s.data as ModelStepData | ToolStepData })));
  const messages = [...unavailableTools(run), ...context, ...transcript];
  const tools = toolSpecsOf(run.tools ?? [], run.mcp_tools);
  const base = steps.filter((s) => s.kind === 'model').reduce((acc, s) => sum(acc, (s.data as ModelStepData).usage), { inputTokens: 0, outputTokens: 0 });
  const price = { input: run.price_input, output: run.price_output };
  const inputTokens = provider.estimateInputTokens(messages, run.model, tools);
  const remaining = creditsLeft(run, base);
  const allowed = Math.min(run.max_tokens, outputTokensAffordable(price, inputTokens, remaining));
  const capReached = remaining <= 0 || allowed < 1;
  return { tools, messages, inputTokens, allowed, base, price, capReached, text: [], toolCalls: [] };
}

/**
 * Records the finished turn: its text, its tool calls (ids made unique and non-empty: the tool
 * steps and the next turn refer to them), its usage and the credits it added. Returns how many
 * tool calls are to be run.
 */
export async function finishAgentTurn(
  db: Db,
  runId: string,
  step: number,
  turn: AgentTurn,
  usage: Usage,
  { attempt, truncated }: { attempt: number; truncated: boolean },
): Promise<number> {
  const seen = new Set<string>();
  // A turn cut at its token cap may end inside a call's arguments: none of its calls is run.
  const asked = truncated ? [] : turn.toolCalls;
  const toolCalls = asked.map((call, i) => {
    const id = call.id && !seen.has(call.id) && call.id.length <= 200 ? call.id : `call_${step}_${i}`;
    seen.add(id);
    // A hostile provider's name may be long: no tool has such a name, and it is stored and shown.
    return { id, name: truncate(call.name, 128), arguments: call.arguments };
  });
  const cost = costOf(turn.price, sum(turn.base, usage)) - costOf(turn.price, turn.base);
  await finishModelStep(db, runId, step, { text: turn.text.join(''), toolCalls, usage, cost, attempt, truncated });
  return toolCalls.length;
}
