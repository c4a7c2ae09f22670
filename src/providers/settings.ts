import type { CliAgentTable } from './cli-agent-config';
import type { HttpChatProviderOptions } from './http-chat-provider';

/** A model API called over HTTP: where, and with which of the platform's keys. */
export type HttpProviderEndpoint = Pick<HttpChatProviderOptions, 'baseUrl' | 'apiKey'>;

/** What the model providers are configured with (src/config.ts reads it from the environment). */
export interface ProviderSettings {
  openai: HttpProviderEndpoint;
  anthropic: HttpProviderEndpoint;
  /** Silence from a model provider after which the call is abandoned as hung (and retried). */
  providerIdleTimeoutMs: number;
  /** Local agent commands served as `cli/<name>`. */
  cliAgents: CliAgentTable;
  /** Pause between the demo provider's tokens. */
  demoDelayMs: number;
}
