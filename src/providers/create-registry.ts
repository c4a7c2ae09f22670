import type { Config } from '../config';
import { AnthropicProvider } from './anthropic';
import { CliAgentProvider } from './cli-agent';
import { DemoEchoProvider } from './demo-echo';
import { OpenAiProvider } from './openai';
import { ProviderRegistry } from './registry';

/** Every provider the platform offers, configured from the environment. */
export function createProviderRegistry(config: Config): ProviderRegistry {
  const idleTimeoutMs = config.providerIdleTimeoutMs;
  return new ProviderRegistry([
    new DemoEchoProvider(config.demoDelayMs),
    new OpenAiProvider({ ...config.openai, idleTimeoutMs }),
    new AnthropicProvider({ ...config.anthropic, idleTimeoutMs }),
    new CliAgentProvider(config.cliAgents),
  ]);
}
