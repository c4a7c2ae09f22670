import { Sandbox } from '../workspaces/sandbox';
import type { WorkspaceSettings } from '../workspaces/settings';
import { AnthropicProvider } from './anthropic';
import { CliAgentProvider } from './cli-agent';
import { DemoEchoProvider } from './demo-echo';
import { OpenAiProvider } from './openai';
import { ProviderRegistry } from './registry';
import type { ProviderSettings } from './settings';

/**
 * Every provider the platform offers, configured from the environment. `warn` hears why CLI
 * agents are refused when the sandbox does not work (it is probed on the first agent run).
 */
export function createProviderRegistry(
  config: ProviderSettings & { workspaces: WorkspaceSettings; workspacesDir: string },
  warn: (message: string) => void = () => undefined,
  /** The worker passes its own, shared with setup commands: one detection per process. */
  sandbox = new Sandbox(config.workspaces, config.workspacesDir, warn),
): ProviderRegistry {
  const idleTimeoutMs = config.providerIdleTimeoutMs;
  return new ProviderRegistry([
    new DemoEchoProvider(config.demoDelayMs),
    new OpenAiProvider({ ...config.openai, idleTimeoutMs }),
    new AnthropicProvider({ ...config.anthropic, idleTimeoutMs }),
    new CliAgentProvider(config.cliAgents, sandbox, warn),
  ]);
}
