import { parseEventJson, postEventStream } from './event-stream';
import { estimateOpenAiTokens } from './estimate-tokens';
import { DEFAULT_IDLE_TIMEOUT_MS, HttpChatProvider } from './http-chat-provider';
import { ToolCallAssembler } from './tool-calls';
import type { ModelCall, ModelChunk, ModelMessage, ToolSpec } from './types';
import { ProviderError } from './types';
import { excerpt } from '../text';

interface ToolCallDelta {
  index?: number;
  id?: string | null;
  function?: { name?: string | null; arguments?: string | null };
}

interface ChatChunk {
  choices?: { delta?: { content?: string | null; tool_calls?: ToolCallDelta[] | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string; type?: string };
}

type ChatMessage =
  | { role: string; content: string }
  | { role: 'assistant'; content: string | null; tool_calls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] }
  | { role: 'tool'; tool_call_id: string; content: string };

/** Our messages in Chat Completions' shapes: tool calls on the assistant turn, answers as `tool`. */
export function chatMessages(messages: ModelMessage[]): ChatMessage[] {
  return messages.map((m) => {
    if (m.role === 'tool') return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
    if (m.role === 'assistant' && m.toolCalls && m.toolCalls.length > 0) {
      return {
        role: 'assistant',
        content: m.content || null,
        tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
      };
    }
    return { role: m.role, content: m.content };
  });
}

/** The `tools` field, present only when there are tools: some servers reject an empty list. */
function toolsField(tools: ToolSpec[] | undefined): { tools?: unknown[] } {
  if (!tools || tools.length === 0) return {};
  return { tools: tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })) };
}

function finishReason(reason: string, calls: number): 'stop' | 'length' | 'tool_calls' {
  if (reason === 'length') return 'length';
  // Some servers (Ollama, llama.cpp) say `stop` after tool calls; the calls are what counts.
  return reason === 'tool_calls' || calls > 0 ? 'tool_calls' : 'stop';
}

/**
 * Feeds one choice's `delta.tool_calls` to the assembler. Calls are keyed by `index`; servers
 * that give none start a new call with each new id and otherwise continue the last one.
 */
class ToolCallDeltas {
  readonly assembler = new ToolCallAssembler();
  private last = -1;
  private lastId: string | undefined;

  add(deltas: ToolCallDelta[]): void {
    for (const d of deltas) {
      if (typeof d !== 'object' || d === null) continue;
      const key = this.keyOf(d);
      this.assembler.begin(key, d.id, d.function?.name);
      this.assembler.append(key, d.function?.arguments);
    }
  }

  private keyOf(d: ToolCallDelta): number {
    if (typeof d.index === 'number' && Number.isSafeInteger(d.index)) this.last = d.index;
    else if (this.last < 0 || (typeof d.id === 'string' && d.id && d.id !== this.lastId)) this.last++;
    if (typeof d.id === 'string' && d.id) this.lastId = d.id;
    return this.last;
  }
}

/**
 * `openai/<model>`: any OpenAI-compatible Chat Completions endpoint that streams (OpenAI, vLLM,
 * Ollama, llama.cpp server, OpenRouter…). 408, 429, 5xx, network errors and silence longer than
 * the idle timeout are retryable; other 4xx are not. The usage chunk (asked for with
 * `stream_options.include_usage`) is authoritative; without it the deltas are counted. Tool
 * calls stream as fragments by index and are yielded whole when the choice finishes.
 */
export class OpenAiProvider extends HttpChatProvider {
  readonly prefix = 'openai';

  /** Counted with the model's own tokenizer (OpenAI publishes it), bounded in work. */
  estimateInputTokens(messages: ModelMessage[], model: string, tools?: ToolSpec[]): number {
    return estimateOpenAiTokens(messages, this.upstreamModel(model), tools);
  }

  protected async *chunks(call: ModelCall, apiKey: string | undefined): AsyncGenerator<ModelChunk> {
    const events = postEventStream({
      url: `${this.options.baseUrl}/chat/completions`,
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      body: {
        model: this.upstreamModel(call.model),
        messages: chatMessages(call.messages),
        ...toolsField(call.tools),
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: call.maxOutputTokens,
      },
      signal: call.signal,
      idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    });
    let sawFinish = false;
    const toolCalls = new ToolCallDeltas();
    for await (const event of events) {
      if (event.data === '[DONE]') return;
      const chunk = parseEventJson<ChatChunk>(event);
      if (chunk.error) {
        throw new ProviderError(excerpt(String(chunk.error.message ?? 'provider error'), 500), 'provider_stream_error', true);
      }
      for (const choice of chunk.choices ?? []) {
        const text = choice.delta?.content;
        if (text) yield { type: 'delta', text };
        if (Array.isArray(choice.delta?.tool_calls)) toolCalls.add(choice.delta.tool_calls);
        if (choice.finish_reason) {
          sawFinish = true;
          // After `length` the last call's arguments may be cut short; the reason says so.
          const calls = toolCalls.assembler.takeAll();
          for (const c of calls) yield { type: 'tool_call', call: c };
          yield { type: 'finish', reason: finishReason(choice.finish_reason, calls.length) };
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
