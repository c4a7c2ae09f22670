import type { Usage } from '../pricing';

export interface ModelMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

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
}

export type ModelChunk =
  | { type: 'delta'; text: string }
  | { type: 'log'; stream: 'stdout' | 'stderr'; line: string }
  /** Authoritative usage reported by the provider; replaces the running count. */
  | { type: 'usage'; usage: Usage }
  | { type: 'finish'; reason: 'stop' | 'length' };

export interface ModelProvider {
  /** The part before the slash in model names it serves. */
  readonly prefix: string;
  supports(model: string): boolean;
  /**
   * Input tokens of a call to `model`, never fewer than the provider will count (see
   * estimate-tokens.ts): the reservation and the spend cap are taken from it. Linear in the text.
   */
  estimateInputTokens(messages: ModelMessage[], model: string): number;
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
