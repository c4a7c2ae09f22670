import { parseEventJson, postEventStream } from './event-stream';
import { estimateOpenAiTokens } from './estimate-tokens';
import { DEFAULT_IDLE_TIMEOUT_MS, HttpChatProvider } from './http-chat-provider';
import type { ModelCall, ModelChunk, ModelMessage } from './types';
import { ProviderError } from './types';
import { excerpt } from '../text';

interface ChatChunk {
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string; type?: string };
}

/**
 * `openai/<model>`: any OpenAI-compatible Chat Completions endpoint that streams (OpenAI, vLLM,
 * Ollama, llama.cpp server, OpenRouter…). 408, 429, 5xx, network errors and silence longer than
 * the idle timeout are retryable; other 4xx are not. The usage chunk (asked for with
 * `stream_options.include_usage`) is authoritative; without it the deltas are counted.
 */
export class OpenAiProvider extends HttpChatProvider {
  readonly prefix = 'openai';

  /** Counted with the model's own tokenizer (OpenAI publishes it), bounded in work. */
  estimateInputTokens(messages: ModelMessage[], model: string): number {
    return estimateOpenAiTokens(messages, this.upstreamModel(model));
  }

  protected async *chunks(call: ModelCall, apiKey: string | undefined): AsyncGenerator<ModelChunk> {
    const events = postEventStream({
      url: `${this.options.baseUrl}/chat/completions`,
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      body: {
        model: this.upstreamModel(call.model),
        messages: call.messages,
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: call.maxOutputTokens,
      },
      signal: call.signal,
      idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    });
    let sawFinish = false;
    for await (const event of events) {
      if (event.data === '[DONE]') return;
      const chunk = parseEventJson<ChatChunk>(event);
      if (chunk.error) {
        throw new ProviderError(excerpt(String(chunk.error.message ?? 'provider error'), 500), 'provider_stream_error', true);
      }
      for (const choice of chunk.choices ?? []) {
        const text = choice.delta?.content;
        if (text) yield { type: 'delta', text };
        if (choice.finish_reason) {
          sawFinish = true;
          yield { type: 'finish', reason: choice.finish_reason === 'length' ? 'length' : 'stop' };
        }
      }
      if (chunk.usage) {
        yield {
          type: 'usage',
          usage: { inputTokens: chunk.usage.prompt_tokens ?? 0, outputTokens: chunk.usage.completion_tokens ?? 0 },
        };
      }
    }
    // Some servers close without `[DONE]`; a finish reason is enough to know the answer is whole.
    if (!sawFinish) throw new ProviderError('provider closed the stream before finishing', 'provider_stream_cut', true);
  }
}
