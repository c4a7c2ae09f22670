import { stat } from 'node:fs/promises';
import path from 'node:path';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ApplicationFailure, CancelledFailure, Context, log } from '@temporalio/activity';
import { publishVolatileEvent } from '../src/db/run-events';
import { countSettlement, errorCodeLabel, metrics } from '../src/metrics/metrics';
import { enterRunStep, getRunById, settleRunRecord } from '../src/db/runs';
import { outputTokensAffordable, type Usage } from '../src/pricing';
import { redactError } from '../src/providers/redact';
import { estimateByBytes } from '../src/providers/estimate-tokens';
import { ProviderError, type ModelMessage, type ModelProvider } from '../src/providers/types';
import type { RunRow } from '../src/db/schema';
import { buildModelMessages } from '../src/sessions/model-messages';
import { DEFAULT_BATCH, OutputBatcher } from '../src/streams/output-batcher';
import { RunOutputWriter } from '../src/streams/run-output-writer';
import { STOPPED_ERROR, type ExecuteResult, type SealedBox } from '../workflows/types';
import { agentTurnOf, beginTurn, finishAgentTurn, finishedStepsThrough, recordedTurnIn, type AgentTurn } from './agent-turn';
import type { RunStepRow } from '../src/db/run-steps';
import { runSecretsOf, type RunSecrets } from './run-secrets';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';

async function isLocalWorkspace(root: string, dir: string): Promise<boolean> {
  const inside = path.resolve(dir).startsWith(path.resolve(root) + path.sep);
  return inside && (await stat(dir).then((st) => st.isDirectory(), () => false));
}

/**
 * Model, price, estimate and token cap are read from the admitted run row, never from the
 * caller: what executes is exactly what was admitted and billed.
 */
export interface ExecuteInput {
  runId: string;
  sealedSecrets: SealedBox | null;
  workspacePath: string | null;
  /** An agent run's model turn: the index of its step (absent: a plain run's one call). */
  step?: number;
}

const HEARTBEAT_EVERY_MS = 200;
const TICKS_EVERY_BEATS = 5;

/**
 * Calls the model and streams its output into the run's event log. The spend cap is enforced
 * here: the call ends when the reservation is used up, whatever the provider does. A stop
 * (activity cancellation) aborts the provider's request at once.
 */
export function executeModelActivity(deps: ActivityDeps) {
  // One writer for all the runs this worker executes: their output shares each commit.
  const batcher = new OutputBatcher(deps.db, { ...DEFAULT_BATCH, maxDelayMs: deps.eventBatchMs ?? DEFAULT_BATCH.maxDelayMs, logLimits: deps.logLimits }, deps.logger);
  return async function executeModel(input: ExecuteInput): Promise<ExecuteResult> {
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const run = await getRunById(deps.db, input.runId);
    if (!run) throw ApplicationFailure.nonRetryable(`run ${input.runId} not found`, 'run_not_found');
    /**
     * A stop heard here (its NOTIFY, or the run already stopping or stopped when an attempt
     * begins) ends the call at once. A run without a workspace has nothing to clean up first, so
     * it is settled here too: clients see it stopped without waiting for a workflow task, and the
     * workflow's own settle step then finds it settled (settling is idempotent).
     */
    const stoppedEarly = async (settle: boolean): Promise<ExecuteResult> => {
      if (settle && !input.workspacePath) {
        countSettlement('stopped', await settleRunRecord(deps.db, { runId: input.runId, status: 'stopped', error: STOPPED_ERROR, truncated: false }));
      }
      return { truncated: false, stopped: true };
    };
    if (deps.stops && (run.status === 'stopping' || run.status === 'stopped')) return stoppedEarly(true);
    // An agent turn that finished already (its worker died before reporting it) is not called again.
    const steps = input.step !== undefined ? await finishedStepsThrough(deps.db, input.runId, input.step) : [];
    const recorded = input.step !== undefined ? recordedTurnIn(steps, input.step) : null;
    if (recorded) return recorded;
    // An agent run's later turns find it running already: no transaction to say so again.
    if (run.status !== 'running' || run.step !== 'execute') await enterRunStep(deps.db, input.runId, 'running', 'execute');
    // The workflow assumes a first attempt; only a retry costs it a signal (and a workflow task).
    if (attempt > 1) void deps.reportProgress(input.runId, { step: 'execute', attempt });

    if (input.step !== undefined) trace.getActiveSpan()?.setAttributes({ 'runway.run_id': input.runId, 'runway.step': input.step });
    const call = await prepareCall(deps, input, run, steps);
    if (call.agent?.capReached) return { truncated: false, toolCalls: 0, capReached: true };
    // A plain run whose cap (`maxCredits`) cannot pay for its input and one token is not sent at all.
    if (!call.agent && call.allowed < 1) throw ApplicationFailure.nonRetryable('maxCredits does not pay for this run\'s input and one output token', 'spend_cap_reached');
    if (attempt > 1) metrics.providerRetries.inc({ provider: call.provider.prefix });
    const writer = new RunOutputWriter(deps.db, input.runId, DEFAULT_BATCH, batcher);
    const turn = input.step !== undefined ? beginTurn(input.runId, input.step, attempt) : undefined;
    await writer.begin(attempt, call.agent?.base ?? { inputTokens: 0, outputTokens: 0 }, turn);
    const stops = listenForStops(ctx, deps, input.runId);
    let truncated = false;
    /** Set when the call ended early on a stop: the activity's result. */
    const ended = await withHeartbeat(ctx, heartbeatFor(deps, input.runId, writer), async (): Promise<ExecuteResult | null> => {
      try {
        truncated = await tracedCall(input.runId, writer, call, () => streamInto(writer, call, stops.signal, input.workspacePath));
        return null;
      } catch (err) {
        // Settling needs the usage written: only settle early if the last write landed.
        const written = await writer.close().then(() => true, () => false);
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('the run was stopped');
        if (stops.heard()) return stoppedEarly(written);
        metrics.providerErrors.inc({ provider: call.provider.prefix, code: err instanceof ProviderError ? errorCodeLabel(err.code) : 'internal' });
        // The failure lands in Temporal history and the run's error: never with the run's key in it.
        throw toActivityFailure(redactError(err, [call.secrets.apiKey]));
      } finally {
        stops.release();
      }
    });
    if (ended) return ended;
    await writer.close();
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('the run was stopped');
    if (stops.heard()) return stoppedEarly(true);
    if (call.agent && input.step !== undefined) {
      const usage = { inputTokens: writer.inputTokens, outputTokens: writer.outputTokens };
      const toolCalls = await finishAgentTurn(deps.db, input.runId, input.step, call.agent, usage, { attempt, truncated });
      return { truncated, toolCalls };
    }
    return { truncated };
  };
}

/** What one model call needs, from the admitted row: provider, messages, the cap, the run's key. */
interface ModelCall {
  model: string;
  provider: ModelProvider;
  messages: ModelMessage[];
  inputTokens: number;
  /** Output tokens the reservation pays for (and at most `maxTokens`). */
  allowed: number;
  secrets: RunSecrets;
  /** An agent run's turn: its tools, its transcript so far, what it collects. */
  agent?: AgentTurn;
}

/** `steps`: an agent run's finished steps before this turn. */
async function prepareCall(deps: ActivityDeps, input: ExecuteInput, run: RunRow, steps: RunStepRow[]): Promise<ModelCall> {
  if (input.workspacePath && !(await isLocalWorkspace(deps.workspacesDir, input.workspacePath))) {
    // The workflow sends this step to the host that prepared the workspace; anywhere else the
    // agent would work in an empty or foreign folder.
    throw ApplicationFailure.nonRetryable(`the workspace ${input.workspacePath} is not on this worker`, 'workspace_lost');
  }
  const price = { input: run.price_input, output: run.price_output };
  const provider = deps.providers.find(run.model);
  if (!provider) throw ApplicationFailure.nonRetryable(`no provider serves ${run.model}`, 'unknown_model');
  const secrets = runSecretsOf(deps.secretsKey, input.runId, input.sealedSecrets);
  const messages = await buildModelMessages(deps.db, run, provider);
  if (input.step !== undefined) {
    const agent = agentTurnOf(run, provider, messages, steps);
    return { model: run.model, provider, messages: agent.messages, inputTokens: agent.inputTokens, allowed: agent.allowed, secrets, agent };
  }
  const inputTokens = provider.estimateInputTokens(messages, run.model);
  const allowed = Math.min(run.max_tokens, outputTokensAffordable(price, inputTokens, run.estimate));
  return { model: run.model, provider, messages, inputTokens, allowed, secrets };
}

/** A no-op unless tracing is on (src/telemetry registers the SDK). */
const tracer = trace.getTracer('runway-worker');

/**
 * The provider call as a span (`provider.call`, a child of the activity's): provider, model, the
 * cap and the tokens used. Never the prompt, the output or the key; a failure is recorded by its
 * code only, since provider messages may quote the request.
 */
function tracedCall<T>(runId: string, writer: RunOutputWriter, call: ModelCall, fn: () => Promise<T>): Promise<T> {
  const attributes = {
    'runway.run_id': runId,
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': call.provider.prefix,
    'gen_ai.request.model': call.model,
    'gen_ai.request.max_tokens': call.allowed,
  };
  return tracer.startActiveSpan('provider.call', { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      return await fn();
    } catch (err) {
      const type = err instanceof ProviderError ? err.code : err instanceof Error ? err.name : 'unknown';
      span.setAttribute('error.type', type).setStatus({ code: SpanStatusCode.ERROR, message: type });
      throw err;
    } finally {
      span.setAttributes({ 'gen_ai.usage.input_tokens': writer.inputTokens, 'gen_ai.usage.output_tokens': writer.outputTokens });
      span.end();
    }
  });
}

/** Streams the provider's answer into the writer; true when it was cut at the cap. */
async function streamInto(writer: RunOutputWriter, call: ModelCall, signal: AbortSignal, workspacePath: string | null): Promise<boolean> {
  const stream = call.provider.stream({
    model: call.model,
    messages: call.messages,
    maxOutputTokens: call.allowed,
    signal,
    apiKey: call.secrets.apiKey,
    cwd: workspacePath ?? undefined,
    ...(call.agent ? { tools: call.agent.tools } : {}),
  });
  let truncated = false;
  const started = performance.now();
  let firstToken = true;
  for await (const chunk of stream) {
    writer.acceptInput(call.inputTokens);
    if (chunk.type === 'delta') {
      if (firstToken) {
        firstToken = false;
        metrics.firstTokenSeconds.observe({ provider: call.provider.prefix }, (performance.now() - started) / 1000);
      }
      if (writer.outputTokens >= call.allowed) return true; // the provider went past the cap: cut it off here
      writer.delta(chunk.text);
      call.agent?.text.push(chunk.text);
    } else if (chunk.type === 'tool_call') {
      call.agent?.toolCalls.push(chunk.call);
    } else if (chunk.type === 'log') {
      writer.log(chunk.stream, chunk.line);
    } else if (chunk.type === 'usage') {
      writer.setUsage(billableUsage(chunk.usage, call));
    } else if (chunk.type === 'finish' && chunk.reason === 'length') {
      truncated = true; // stopped at the cap we passed
    }
  }
  return truncated;
}

/**
 * Tokens a provider may add to what it was sent (chat templates, its own system text), over the
 * byte bound: generous, since the bound is there to stop absurd reports, not to audit exact ones.
 */
const PROVIDER_FRAMING_TOKENS = 1_000;

/**
 * What a provider's usage report can bill: usage beyond the reservation is charged (an overrun),
 * so a report is bounded by what the call could have used: input no more than one token per
 * UTF-8 byte of what was sent (a bound for every byte-level BPE tokenizer) plus the provider's
 * framing, output no more than the cap it was given. A broken or hostile endpoint's absurd
 * count cannot bill a tenant billions.
 */
function billableUsage(usage: Usage, call: ModelCall): Usage {
  const bounded = {
    inputTokens: Math.min(usage.inputTokens, Math.max(call.inputTokens, estimateByBytes(call.messages, call.agent?.tools)) + PROVIDER_FRAMING_TOKENS),
    outputTokens: Math.min(usage.outputTokens, call.allowed),
  };
  if (bounded.inputTokens !== usage.inputTokens || bounded.outputTokens !== usage.outputTokens) {
    log.warn('provider reported more usage than the call could use; billing the bound', { reported: usage, billed: bounded });
  }
  return bounded;
}

/** Aborts the call on the activity's cancellation or on the stop NOTIFY, whichever comes first. */
function listenForStops(ctx: Context, deps: ActivityDeps, runId: string) {
  const abort = new AbortController();
  const onCancel = () => abort.abort(ctx.cancellationSignal.reason);
  ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
  let heard = false;
  const unwatch = deps.stops?.watch(runId, () => {
    heard = true;
    abort.abort(new Error('the run was stopped'));
  });
  return {
    signal: abort.signal,
    heard: () => heard,
    release: () => {
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
      unwatch?.();
    },
  };
}

/**
 * Heartbeats carry the cancellation back from the server, so they go out even when the model is
 * silent; every few beats a volatile tick (never stored, no id) lets followers see it is alive.
 */
function heartbeatFor(deps: ActivityDeps, runId: string, writer: RunOutputWriter) {
  return {
    everyMs: HEARTBEAT_EVERY_MS,
    details: () => ({ outputTokens: writer.outputTokens }),
    onBeat: (beats: number) => {
      if (beats % TICKS_EVERY_BEATS !== 0) return;
      void publishVolatileEvent(deps.db, runId, {
        type: 'progress',
        data: { step: 'execute', message: 'generating', outputTokens: writer.outputTokens },
      }).catch((err: unknown) => deps.logger.debug({ err, runId }, 'generating tick not published (the next one may be)'));
    },
  };
}

/** Provider errors keep their classification; Retry-After becomes the next retry's delay. */
function toActivityFailure(err: unknown): unknown {
  if (err instanceof ProviderError) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.code,
      nonRetryable: !err.retryable,
      nextRetryDelay: err.retryAfterSeconds !== undefined ? `${Math.ceil(err.retryAfterSeconds * 1000)} ms` : undefined,
    });
  }
  return err;
}
