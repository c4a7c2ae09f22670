import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Usage } from '../pricing';
import { runAgentProcess, type ProcessEvent } from './agent-process';
import { childEnv } from './child-env';
import type { CliAgentConfig, CliAgentTable } from './cli-agent-config';
import { redactText, withRedactedErrors } from './redact';
import type { ModelCall, ModelChunk, ModelMessage, ModelProvider } from './types';
import { ProviderError } from './types';

/** Billing rule for agents, which report no usage: one token per whitespace-separated word. */
export function countWords(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

/** A single prompt as is; a conversation (a session's later turns) as a plain transcript. */
export function promptOf(messages: ModelMessage[]): string {
  if (messages.length === 1 && messages[0]) return messages[0].content;
  return messages.map((m) => `${m.role}: ${m.content}`).join('\n\n');
}

const STDERR_TAIL_LINES = 20;
const STDERR_TAIL_CHARS = 2000;

function exitError(name: string, agent: CliAgentConfig, exit: Extract<ProcessEvent, { type: 'exit' }>, tail: string[]): ProviderError {
  const stderr = tail.join('\n').slice(-STDERR_TAIL_CHARS);
  const suffix = stderr ? `: ${stderr}` : '';
  if (exit.timedOut) return new ProviderError(`agent "${name}" timed out after ${agent.timeoutMs} ms${suffix}`, 'cli_timeout', false);
  if (exit.signal) return new ProviderError(`agent "${name}" was killed by ${exit.signal}${suffix}`, 'cli_killed', false);
  return new ProviderError(`agent "${name}" exited with code ${exit.code}${suffix}`, 'cli_exit', false);
}

/**
 * `cli/<name>`: a local agent command configured by the operator (RUNWAY_CLI_AGENTS). It runs in
 * the run's workspace (else a fresh temporary folder) with a scrubbed environment; stdout lines
 * are the output, stderr lines are log events, exit code 0 is success and anything else a
 * failure that retrying will not fix. The run's transient key, if any, is RUNWAY_RUN_API_KEY.
 */
export class CliAgentProvider implements ModelProvider {
  readonly prefix = 'cli';

  constructor(
    private readonly agents: CliAgentTable,
    private readonly parentEnv: NodeJS.ProcessEnv = process.env,
  ) {}

  supports(model: string): boolean {
    return model.startsWith('cli/') && Object.hasOwn(this.agents, model.slice('cli/'.length));
  }

  estimateInputTokens(messages: ModelMessage[]): number {
    return countWords(promptOf(messages));
  }

  stream(call: ModelCall): AsyncIterable<ModelChunk> {
    return withRedactedErrors(this.chunks(call), [call.apiKey]);
  }

  private async *chunks(call: ModelCall): AsyncGenerator<ModelChunk> {
    const name = call.model.slice('cli/'.length);
    const agent = Object.hasOwn(this.agents, name) ? this.agents[name] : undefined;
    if (!agent) throw new ProviderError(`no CLI agent named "${name}" is configured`, 'unknown_model', false);
    const prompt = promptOf(call.messages);
    const tempDir = call.cwd ? undefined : await mkdtemp(path.join(os.tmpdir(), 'runway-cli-'));
    const usage: Usage = { inputTokens: countWords(prompt), outputTokens: 0 };
    const tail: string[] = [];
    // The agent may print its environment: the key is scrubbed from everything it says. NULs
    // go too, since PostgreSQL text cannot hold them.
    const scrub = (text: string) => redactText(text.replaceAll('\0', ''), [call.apiKey]);
    try {
      const events = runAgentProcess({
        command: agent.command,
        args: agent.prompt === 'arg' ? [...agent.args, prompt] : agent.args,
        cwd: call.cwd ?? (tempDir as string),
        env: childEnv(this.parentEnv, { extra: agent.env, apiKey: call.apiKey }),
        stdin: agent.prompt === 'stdin' ? prompt : undefined,
        signal: call.signal,
        timeoutMs: agent.timeoutMs,
      });
      for await (const event of events) {
        if (event.type === 'stdout') {
          const text = scrub(event.text);
          usage.outputTokens += countWords(text);
          yield { type: 'delta', text };
          yield { type: 'usage', usage: { ...usage } };
          if (usage.outputTokens >= call.maxOutputTokens) {
            yield { type: 'finish', reason: 'length' }; // returning kills the agent
            return;
          }
        } else if (event.type === 'stderr') {
          const line = scrub(event.line);
          tail.push(line);
          if (tail.length > STDERR_TAIL_LINES) tail.shift();
          yield { type: 'log', stream: 'stderr', line };
        } else if (event.code === 0 && !event.timedOut) {
          yield { type: 'usage', usage: { ...usage } };
          yield { type: 'finish', reason: 'stop' };
          return;
        } else {
          throw exitError(name, agent, event, tail);
        }
      }
    } finally {
      if (tempDir) await rm(tempDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}
