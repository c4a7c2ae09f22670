import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { trace } from '@opentelemetry/api';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { getRunById } from '../src/db/runs';
import { beginToolStep, finishToolStep, getRunStep } from '../src/db/run-steps';
import type { RunRow } from '../src/db/schema';
import { metrics } from '../src/metrics/metrics';
import { callMcpTool } from '../src/tools/mcp-tools';
import { WORKSPACE_TOOL_NAMES, type ModelStepData, type ToolOutcome, type ToolStepData } from '../src/tools/types';
import { WorkspaceTools } from '../src/tools/workspace-tools';
import { freeSpaceMb } from '../src/workspaces/disk';
import { workspaceLayout } from '../src/workspaces/layout';
import type { SealedBox, ToolStepResult } from '../workflows/types';
import type { ActivityDeps } from './deps';
import { creditsLeft } from './agent-turn';
import { withHeartbeat } from './heartbeat';
import { mcpServersOf, runSecretsOf } from './run-secrets';

/** The model turn `turn` asked for call number `call`; it is the run's step `step`. */
export interface RunToolInput {
  runId: string;
  sealedSecrets: SealedBox | null;
  workspacePath: string | null;
  turn: number;
  call: number;
  step: number;
}

/** Tool steps beat this often: a stop reaches a running tool within a beat (the stop NOTIFY is faster). */
const TOOL_HEARTBEAT_MS = 500;

/**
 * One tool call of an agent run, as its own step. Its idempotency key is the run, the step and
 * the call: a call whose result is recorded is never executed again (a retry or a replay gets
 * the recorded result); an interrupted one runs again. The tool's failures are results the
 * model sees, never the step's; a stop kills the tool's process or cancels its MCP request.
 */
export function runToolActivity(deps: ActivityDeps) {
  const workspaceTools = new WorkspaceTools(deps.sandbox);
  return async function runTool(input: RunToolInput): Promise<ToolStepResult> {
    const ctx = Context.current();
    const run = await getRunById(deps.db, input.runId);
    const turn = await getRunStep(deps.db, input.runId, input.turn);
    const call = turn?.kind === 'model' ? (turn.data as ModelStepData).toolCalls[input.call] : undefined;
    if (!run || !call) throw ApplicationFailure.nonRetryable(`no tool call ${input.call} in step ${input.turn} of run ${input.runId}`, 'tool_call_not_found');
    const begun = await beginToolStep(deps.db, input.runId, input.step, { callId: call.id, name: call.name, arguments: call.arguments, turn: input.turn });
    if (begun.finished_at) return { error: (begun.data as ToolStepData).error !== undefined };
    // The activity's span (RunActivity:runTool) is the step's: it names the step and the tool.
    trace.getActiveSpan()?.setAttributes({ 'runway.run_id': input.runId, 'runway.step': input.step, 'gen_ai.tool.name': toolLabel(call.name) });
    if (ctx.info.attempt === 1) metrics.agentSteps.inc({ kind: 'tool' });

    const abort = new AbortController();
    const onCancel = () => abort.abort(ctx.cancellationSignal.reason);
    ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
    const unwatch = deps.stops?.watch(input.runId, () => abort.abort(new Error('the run was stopped')));
    const started = performance.now();
    // The row's usage is every finished turn's (the turn that asked for this call has ended).
    const left = creditsLeft(run, { inputTokens: run.input_tokens, outputTokens: run.output_tokens });
    let outcome: ToolOutcome;
    try {
      outcome = run.tool_price > 0 && left <= 0
        ? refused('the run\'s spend cap (maxCredits) leaves nothing for tool time')
        : await withHeartbeat(ctx, { everyMs: TOOL_HEARTBEAT_MS }, () => executeTool(deps, workspaceTools, run, input, call, abort.signal));
    } finally {
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
      unwatch?.();
    }
    if (abort.signal.aborted) throw new CancelledFailure('the run was stopped');
    // Tool time is billed within the reservation only: the run's cap holds for its tools too.
    const cost = Math.min(Math.ceil((outcome.sandboxMs * run.tool_price) / 1000), Math.max(0, left));
    const recorded = await finishToolStep(deps.db, input.runId, input.step, { ...outcome, durationMs: Math.round(performance.now() - started), cost });
    metrics.toolCalls.inc({ tool: toolLabel(call.name), outcome: recorded.error !== undefined ? 'error' : 'ok' });
    return { error: recorded.error !== undefined };
  };
}

/** Metric labels stay a bounded set: MCP tools are named by the tenant. */
function toolLabel(name: string): string {
  return (WORKSPACE_TOOL_NAMES as readonly string[]).includes(name) ? name : 'mcp';
}

async function executeTool(
  deps: ActivityDeps,
  workspaceTools: WorkspaceTools,
  run: RunRow,
  input: RunToolInput,
  call: { name: string; arguments: string },
  signal: AbortSignal,
): Promise<ToolOutcome> {
  const tools = run.tools ?? [];
  if (tools.some((t) => t.type === 'workspace' && t.name === call.name)) {
    if (!input.workspacePath) return refused(`the tool ${call.name} needs a workspace, and this run has none`);
    // A disk the workspaces share that is nearly full takes no more tool work (a run's tools could fill it for every tenant).
    if ((await freeSpaceMb(deps.workspacesDir)) < deps.workspaces.minFreeMb) return refused('the workspaces disk is nearly full: the tool was not run');
    const home = workspaceLayout(deps.workspacesDir, path.basename(input.workspacePath)).home;
    await mkdir(home, { recursive: true });
    return workspaceTools.execute(call.name, call.arguments, { workspace: input.workspacePath, home, signal });
  }
  const offered = run.mcp_tools?.tools.find((t) => t.name === call.name);
  const server = offered ? mcpServersOf(tools, runSecretsOf(deps.secretsKey, input.runId, input.sealedSecrets))[offered.server] : undefined;
  if (!offered || !server) return refused(`there is no tool named ${JSON.stringify(call.name.slice(0, 100))}`);
  return callMcpTool(server, offered.name, call.arguments, { allowPrivate: false, ...deps.mcp, signal });
}

function refused(error: string): ToolOutcome {
  return { result: '', truncated: false, error, sandboxMs: 0 };
}
