import type { Usage } from '../pricing';
import { parseEventJson, postEventStream } from './event-stream';
import { estimateByBytes } from './estimate-tokens';
import { DEFAULT_IDLE_TIMEOUT_MS, HttpChatProvider } from './http-chat-provider';
import { ToolCallAssembler, toolInputObject } from './tool-calls';
import type { ModelCall, ModelChunk, ModelMessage, ToolSpec } from './types';
import { ProviderError } from './types';
import { excerpt } from '../text';

export const ANTHROPIC_VERSION = '2023-06-01';

interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

interface AnthropicEvent {
  type: string;
  index?: number;
  message?: { usage?: AnthropicUsage };
  content_block?: { type?: string; id?: string; name?: string };
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null };
  usage?: AnthropicUsage;
  error?: { type?: string; message?: string };
}

/** Error types Anthropic documents as transient. */
const RETRYABLE_ERRORS = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

/** Cache writes and reads are input too; billing them at the input price keeps one rule for all. */
function inputTokensOf(usage: AnthropicUsage): number {
  return (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}

type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string };

interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | ContentBlock[];
}

/** An assistant turn that made tool calls: its text (if any), then one `tool_use` per call. */
function assistantBlocks(m: Extract<ModelMessage, { role: 'assistant' }>): ContentBlock[] {
  const text: ContentBlock[] = m.content ? [{ type: 'text', text: m.content }] : [];
  return [...text, ...(m.toolCalls ?? []).map((c): ContentBlock => ({ type: 'tool_use', id: c.id, name: c.name, input: toolInputObject(c.arguments) }))];
}

/**
 * System prompts go in a top-level field; the conversation keeps user and assistant turns. Tool
 * answers are `tool_result` blocks of a user turn, and the answers to one assistant turn must
 * all be in the user turn right after it: consecutive tool messages become one user message.
 */
export function anthropicMessages(messages: ModelMessage[]): { system?: string; messages: AnthropicMessage[] } {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
  const out: AnthropicMessage[] = [];
  let results: ContentBlock[] | undefined;
  for (const m of messages) {
    if (m.role === 'system') continue;
    if (m.role === 'tool') {
      if (!results) out.push({ role: 'user', content: (results = []) });
      results.push({ type: 'tool_result', tool_use_id: m.toolCallId, content: m.content });
      continue;
    }
    results = undefined;
    const withCalls = m.role === 'assistant' && m.toolCalls && m.toolCalls.length > 0;
    out.push({ role: m.role, content: withCalls ? assistantBlocks(m) : m.content });
  }
  return { ...(system.length > 0 ? { system: system.join('\n\n') } : {}), messages: out };
}

/** The `tools` field, present only when there are tools. */
function toolsField(tools: ToolSpec[] | undefined): { tools?: unknown[] } {
  if (!tools || tools.length === 0) return {};
  return { tools: tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters })) };
}

function finishReason(stopReason: string | null | undefined): 'stop' | 'length' | 'tool_calls' {
  if (stopReason === 'max_tokens') return 'length';
  return stopReason === 'tool_use' ? 'tool_calls' : 'stop';
}

/** A content block's index; a missing or odd one is a protocol error worth retrying. */
function blockIndex(event: AnthropicEvent): number {
  if (typeof event.index === 'number' && Number.isSafeInteger(event.index)) return event.index;
  throw new ProviderError(`provider sent ${excerpt(String(event.type), 64)} without a block index`, 'provider_protocol', true);
}

/**
 * `anthropic/<model>`: the Messages API, streamed. `message_start` carries the input tokens,
 * `content_block_delta` the text (or a tool call's argument JSON, between its block's start and
 * stop), `message_delta` the output tokens and the stop reason, `message_stop` ends the answer;
 * an `error` event mid-stream is classified like an HTTP error.
 */
export class AnthropicProvider extends HttpChatProvider {
  readonly prefix = 'anthropic';

  /** Anthropic publishes no tokenizer for its current models: the byte bound, which holds for any. */
  estimateInputTokens(messages: ModelMessage[], _model?: string, tools?: ToolSpec[]): number {
    return estimateByBytes(messages, tools);
  }

  protected async *chunks(call: ModelCall, apiKey: string | undefined): AsyncGenerator<ModelChunk> {
    const events = postEventStream({
      url: `${this.options.baseUrl}/messages`,
      headers: { 'anthropic-version': ANTHROPIC_VERSION, ...(apiKey ? { 'x-api-key': apiKey } : {}) },
      body: {
        model: this.upstreamModel(call.model),
        max_tokens: call.maxOutputTokens,
        stream: true,
        ...anthropicMessages(call.messages),
        ...toolsField(call.tools),
      },
      signal: call.signal,
      idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    });
    const usage: Usage = { inputTokens: 0, outputTokens: 0 };
    let stopReason: string | null | undefined;
    const toolCalls = new ToolCallAssembler();
    for await (const event of events) {
      const data = parseEventJson<AnthropicEvent>(event);
      switch (data.type) {
        case 'message_start':
          usage.inputTokens = inputTokensOf(data.message?.usage ?? {});
          // Output so far is counted from the deltas until message_delta reports it.
          yield { type: 'usage', usage: { ...usage } };
          break;
        case 'content_block_start':
          if (data.content_block?.type === 'tool_use') toolCalls.begin(blockIndex(data), data.content_block.id, data.content_block.name);
          break;
        case 'content_block_delta':
          if (data.delta?.type === 'text_delta' && data.delta.text) yield { type: 'delta', text: data.delta.text };
          if (data.delta?.type === 'input_json_delta') toolCalls.append(blockIndex(data), data.delta.partial_json);
          break;
        case 'content_block_stop': {
          // Text blocks stop too; only a started tool_use block yields a call.
          const done = typeof data.index === 'number' ? toolCalls.take(data.index) : undefined;
          if (done) yield { type: 'tool_call', call: done };
          break;
        }
        case 'message_delta':
          // Counts here are cumulative; newer API versions repeat the input ones.
          if (data.usage) usage.inputTokens = Math.max(usage.inputTokens, inputTokensOf(data.usage));
          usage.outputTokens = data.usage?.output_tokens ?? usage.outputTokens;
          stopReason = data.delta?.stop_reason ?? stopReason;
          if (data.usage) yield { type: 'usage', usage: { ...usage } };
          break;
        case 'message_stop':
          // A tool_use block left open is still a call; the stop reason says if it was cut.
          for (const call of toolCalls.takeAll()) yield { type: 'tool_call', call };
          yield { type: 'finish', reason: finishReason(stopReason) };
          return;
        case 'error': {
          const kind = data.error?.type ?? 'error';
          const message = excerpt(String(data.error?.message ?? 'provider error'), 500);
          throw new ProviderError(message, `provider_${excerpt(String(kind), 64)}`, RETRYABLE_ERRORS.has(kind));
        }
        default:
          break; // ping and future event types
      }
    }
    throw new ProviderError('provider closed the stream before message_stop', 'provider_stream_cut', true);
  }
}
