import { withRedactedErrors } from './redact';
import type { ModelCall, ModelChunk, ModelMessage, ModelProvider, ToolSpec } from './types';

export interface HttpChatProviderOptions {
  baseUrl: string;
  /** The platform's key; a run's own key (a transient secret) takes precedence. */
  apiKey?: string;
  /** Time allowed without any byte from the provider before the call is treated as hung. */
  idleTimeoutMs?: number;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/**
 * What the HTTP streaming providers share: `<prefix>/<model>` names, the input estimate, and
 * the key of the call, which no error thrown from the stream may carry (providers echo keys in
 * error bodies). Subclasses speak their API's protocol in `chunks`.
 */
export abstract class HttpChatProvider implements ModelProvider {
  abstract readonly prefix: string;

  constructor(protected readonly options: HttpChatProviderOptions) {}

  supports(model: string): boolean {
    return model.startsWith(`${this.prefix}/`) && model.length > this.prefix.length + 1;
  }

  abstract estimateInputTokens(messages: ModelMessage[], model: string, tools?: ToolSpec[]): number;

  stream(call: ModelCall): AsyncIterable<ModelChunk> {
    const apiKey = call.apiKey ?? this.options.apiKey;
    return withRedactedErrors(this.chunks(call, apiKey), [apiKey, this.options.apiKey]);
  }

  /** The model's name at the provider (without the `<prefix>/`). */
  protected upstreamModel(model: string): string {
    return model.slice(this.prefix.length + 1);
  }

  protected abstract chunks(call: ModelCall, apiKey: string | undefined): AsyncGenerator<ModelChunk>;
}
