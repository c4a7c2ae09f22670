import type { Usage } from '../pricing';
import { parseEventJson, postEventStream } from './event-stream';
import { estimateByBytes } from './estimate-tokens';
import { DEFAULT_IDLE_TIMEOUT_MS, HttpChatProvider } from './http-chat-provider';
import type { ModelCall, ModelChunk, ModelMessage } from './types';
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
  message?: { usage?: AnthropicUsage };
  delta?: { type?: string; text?: string; stop_reason?: string | null };
  usage?: AnthropicUsage;
  error?: { type?: string; message?: string };
}

/** Error types Anthropic documents as transient. */
const RETRYABLE_ERRORS = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

/** Cache writes and reads are input too; billing them at the input price keeps one rule for all. */
function inputTokensOf(usage: AnthropicUsage): number {
  return (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}

/** System prompts go in a top-level field; the conversation keeps user and assistant turns. */
function requestMessages(messages: ModelMessage[]): { system?: string; messages: { role: string; content: string }[] } {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
  return {
    ...(system.length > 0 ? { system: system.join('\n\n') } : {}),
    messages: messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role, content: m.content })),
  };
}

/**
 * `anthropic/<model>`: the Messages API, streamed. `message_start` carries the input tokens,
 * `content_block_delta` the text, `message_delta` the output tokens and the stop reason,
 * `message_stop` ends the answer; an `error` event mid-stream is classified like an HTTP error.
 */
export class AnthropicProvider extends HttpChatProvider {
  readonly prefix = 'anthropic';

  /** Anthropic publishes no tokenizer for its current models: the byte bound, which holds for any. */
  estimateInputTokens(messages: ModelMessage[]): number {
    return estimateByBytes(messages);
  }

  protected async *chunks(call: ModelCall, apiKey: string | undefined): AsyncGenerator<ModelChunk> {
    const events = postEventStream({
      url: `${this.options.baseUrl}/messages`,
      headers: { 'anthropic-version': ANTHROPIC_VERSION, ...(apiKey ? { 'x-api-key': apiKey } : {}) },
      body: {
        model: this.upstreamModel(call.model),
        max_tokens: call.maxOutputTokens,
        stream: true,
        ...requestMessages(call.messages),
      },
      signal: call.signal,
      idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    });
    const usage: Usage = { inputTokens: 0, outputTokens: 0 };
    let stopReason: string | null | undefined;
    for await (const event of events) {
      const data = parseEventJson<AnthropicEvent>(event);
      switch (data.type) {
        case 'message_start':
          usage.inputTokens = inputTokensOf(data.message?.usage ?? {});
          // Output so far is counted from the deltas until message_delta reports it.
          yield { type: 'usage', usage: { ...usage } };
          break;
        case 'content_block_delta':
          if (data.delta?.type === 'text_delta' && data.delta.text) yield { type: 'delta', text: data.delta.text };
          break;
        case 'message_delta':
          // Counts here are cumulative; newer API versions repeat the input ones.
          if (data.usage) usage.inputTokens = Math.max(usage.inputTokens, inputTokensOf(data.usage));
          usage.outputTokens = data.usage?.output_tokens ?? usage.outputTokens;
          stopReason = data.delta?.stop_reason ?? stopReason;
          if (data.usage) yield { type: 'usage', usage: { ...usage } };
          break;
        case 'message_stop':
          yield { type: 'finish', reason: stopReason === 'max_tokens' ? 'length' : 'stop' };
          return;
        case 'error': {
          const kind = data.error?.type ?? 'error';
          const message = excerpt(String(data.error?.message ?? 'provider error'), 500);
          throw new ProviderError(message, `provider_${excerpt(String(kind), 64)}`, RETRYABLE_ERRORS.has(kind));
        }
        default:
          break; // ping, content_block_start/stop and future event types
      }
    }
    throw new ProviderError('provider closed the stream before message_stop', 'provider_stream_cut', true);
  }
}
