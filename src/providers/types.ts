import type { Usage } from '../pricing';

/** A tool the model may call: its name, what it does, and its arguments as a JSON Schema object. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** A tool call as the model made it; `arguments` is the model's JSON text, parsed by the tool. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * One message of a conversation. An assistant turn may ask for tool calls; each answer is a
 * `tool` message naming the call it answers.
 */
export type ModelMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; name: string; content: string };

export interface ModelCall {
  /** Full model name, e.g. `openai/gpt-4o-mini`. */
  model: string;
  messages: ModelMessage[];
  /** Hard limit on output tokens (the spend cap); the provider must stop at or before it. */
  maxOutputTokens: number;
  signal: AbortSignal;
  /** A transient per-run key; overrides the operator's key for this call only. */
  apiKey?: string;
  /** The run's workspace, used as working directory by CLI agents. */
  cwd?: string;
  /** Tools the model may call (agent runs); absent or empty: a plain answer. */
  tools?: ToolSpec[];
}

export type ModelChunk =
  | { type: 'delta'; text: string }
  | { type: 'log'; stream: 'stdout' | 'stderr'; line: string }
  /** Authoritative usage reported by the provider; replaces the running count. */
  | { type: 'usage'; usage: Usage }
  /** A complete tool call (its arguments fully streamed); parallel calls come one chunk each. */
  | { type: 'tool_call'; call: ToolCall }
  | { type: 'finish'; reason: 'stop' | 'length' | 'tool_calls' };

export interface ModelProvider {
  /** The part before the slash in model names it serves. */
  readonly prefix: string;
  supports(model: string): boolean;
  /**
   * Input tokens of a call to `model`, never fewer than the provider will count (see
   * estimate-tokens.ts): the reservation and the spend cap are taken from it. Linear in the text.
   * `tools` are the definitions the call will offer (`ModelCall.tools`): they are input too.
   */
  estimateInputTokens(messages: ModelMessage[], model: string, tools?: ToolSpec[]): number;
  stream(call: ModelCall): AsyncIterable<ModelChunk>;
}

/** A provider failure, classified so that Temporal retries only what may succeed next time. */
export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
    /** Seconds the provider asked us to wait (Retry-After), when it said so. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
