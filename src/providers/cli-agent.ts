import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Usage } from '../pricing';
import type { Launch } from '../workspaces/process';
import type { Sandbox } from '../workspaces/sandbox';
import { runAgentProcess, type ProcessEvent } from './agent-process';
import { agentEnv } from './child-env';
import type { CliAgentConfig, CliAgentTable } from './cli-agent-config';
import { redactText, withRedactedErrors } from './redact';
import type { ModelCall, ModelChunk, ModelMessage, ModelProvider } from './types';
import { tailOf } from '../text';
import { BYTES_PER_SIZE_TOKEN, sizeTokens, sizeTokensOf } from './estimate-tokens';
import { ProviderError } from './types';


/** The longest start of `text` of at most `maxBytes` bytes of UTF-8 (no character cut in two). */
function utf8Prefix(text: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  // A streaming decode holds back a sequence cut at the end instead of writing U+FFFD for it.
  return new TextDecoder().decode(bytes.subarray(0, maxBytes), { stream: true });
}

/** A single prompt as is; a conversation (a session's later turns) as a plain transcript. */
export function promptOf(messages: ModelMessage[]): string {
  if (messages.length === 1 && messages[0]) return messages[0].content;
  return messages.map((m) => `${m.role}: ${m.content}`).join('\n\n');
}

const STDERR_TAIL_LINES = 20;
const STDERR_TAIL_CHARS = 2000;

function exitError(name: string, agent: CliAgentConfig, exit: Extract<ProcessEvent, { type: 'exit' }>, tail: string[]): ProviderError {
  const stderr = tailOf(tail.join('\n'), STDERR_TAIL_CHARS);
  const suffix = stderr ? `: ${stderr}` : '';
  if (exit.outputLimit) return new ProviderError(`agent "${name}" wrote more than ${agent.maxOutputBytes} bytes${suffix}`, 'cli_output_limit', false);
  if (exit.timedOut) return new ProviderError(`agent "${name}" timed out after ${agent.timeoutMs} ms${suffix}`, 'cli_timeout', false);
  if (exit.signal) return new ProviderError(`agent "${name}" was killed by ${exit.signal}${suffix}`, 'cli_killed', false);
  return new ProviderError(`agent "${name}" exited with code ${exit.code}${suffix}`, 'cli_exit', false);
}

/**
 * Configured values short enough to be ordinary words ("1", "fast") are not secrets, and
 * scrubbing them would shred the output; anything longer may be a key the agent could print.
 */
const MIN_SCRUBBED_VALUE_CHARS = 8;

function configuredSecrets(agent: CliAgentConfig | undefined): string[] {
  return Object.values(agent?.env ?? {}).filter((value) => value.length >= MIN_SCRUBBED_VALUE_CHARS);
}

/**
 * `cli/<name>`: a local agent command configured by the operator (RUNWAY_CLI_AGENTS). Tenant
 * prompts steer it, so it runs in the same sandbox as setup commands, in the run's workspace
 * (else its private HOME), with a scrubbed environment; stdout lines are the output, stderr lines
 * are log events, exit code 0 is success and anything else a failure that retrying will not
 * fix. The run's transient key, if any, is RUNWAY_RUN_API_KEY.
 */
export class CliAgentProvider implements ModelProvider {
  readonly prefix = 'cli';

  constructor(
    private readonly agents: CliAgentTable,
    private readonly sandbox: Sandbox,
    /** Where problems that do not fail the call go (the worker's logger). */
    private readonly warn: (message: string) => void = () => undefined,
  ) {}

  supports(model: string): boolean {
    return model.startsWith('cli/') && Object.hasOwn(this.agents, model.slice('cli/'.length));
  }

  /** Agents report no usage: input and output are billed by size (`sizeTokens`), not by words. */
  estimateInputTokens(messages: ModelMessage[]): number {
    return sizeTokensOf(promptOf(messages));
  }

  stream(call: ModelCall): AsyncIterable<ModelChunk> {
    const agent = this.agentOf(call.model);
    return withRedactedErrors(this.chunks(call), [call.apiKey, ...configuredSecrets(agent)]);
  }

  private agentOf(model: string): CliAgentConfig | undefined {
    const name = model.slice('cli/'.length);
    return Object.hasOwn(this.agents, name) ? this.agents[name] : undefined;
  }

  /** The agent's sandboxed start: the workspace (else its private HOME) as its folder. */
  private async launch(agent: CliAgentConfig, call: ModelCall, prompt: string, home: string): Promise<Launch> {
    try {
      return await this.sandbox.launch({
        // After `--`, a prompt such as "--version" or "-rf" is never read as an option.
        argv: [agent.command, ...agent.args, ...(agent.prompt === 'arg' ? ['--', prompt] : [])],
        workspace: call.cwd ?? null,
        home,
        env: agentEnv({ extra: agent.env, apiKey: call.apiKey }),
        network: agent.network,
        timeoutMs: agent.timeoutMs,
        readOnlyPaths: agent.readOnlyPaths,
      });
    } catch (err) {
      throw new ProviderError(`cannot start the agent: ${(err as Error).message}`, 'cli_spawn_failed', false);
    }
  }

  private async *chunks(call: ModelCall): AsyncGenerator<ModelChunk> {
    const name = call.model.slice('cli/'.length);
    const agent = this.agentOf(call.model);
    if (!agent) throw new ProviderError(`no CLI agent named "${name}" is configured`, 'unknown_model', false);
    const problem = await this.sandbox.unavailable(agent.network);
    if (problem) throw new ProviderError(`agent "${name}" is refused because ${problem}`, 'cli_sandbox_unavailable', false);
    const prompt = promptOf(call.messages);
    const home = await mkdtemp(path.join(os.tmpdir(), 'runway-cli-'));
    const usage: Usage = { inputTokens: sizeTokensOf(prompt), outputTokens: 0 };
    /** Output bytes so far: the token count is of the whole, not rounded up line by line. */
    let outputBytes = 0;
    const tail: string[] = [];
    // The agent may print its environment: the key and the operator's values are scrubbed from
    // everything it says. NULs go too, since PostgreSQL text cannot hold them.
    const secrets = [call.apiKey, ...configuredSecrets(agent)];
    const scrub = (text: string) => redactText(text.replaceAll('\0', ''), secrets);
    try {
      const events = runAgentProcess({
        launch: await this.launch(agent, call, prompt, home),
        stdin: agent.prompt === 'stdin' ? prompt : undefined,
        signal: call.signal,
        timeoutMs: agent.timeoutMs,
        maxOutputBytes: agent.maxOutputBytes,
      });
      for await (const event of events) {
        if (event.type === 'stdout') {
          // One read can be far more than the cap allows: what is over it is neither shown nor billed.
          const room = call.maxOutputTokens * BYTES_PER_SIZE_TOKEN - outputBytes;
          const text = utf8Prefix(scrub(event.text), room);
          outputBytes += Buffer.byteLength(text);
          usage.outputTokens = sizeTokens(outputBytes);
          if (text) yield { type: 'delta', text };
          yield { type: 'usage', usage: { ...usage } };
          if (usage.outputTokens >= call.maxOutputTokens || Buffer.byteLength(text) >= room) {
            yield { type: 'finish', reason: 'length' }; // returning kills the agent
            return;
          }
        } else if (event.type === 'stderr') {
          const line = scrub(event.line);
          tail.push(line);
          if (tail.length > STDERR_TAIL_LINES) tail.shift();
          yield { type: 'log', stream: 'stderr', line };
        } else if (event.outputLimit) {
          // Past its byte cap the runner passed nothing on and killed the agent: it fails even if
          // it exited 0 before the kill landed (the exit is the one event that knows).
          throw exitError(name, agent, event, tail);
        } else if (event.code === 0 && !event.timedOut) {
          yield { type: 'usage', usage: { ...usage } };
          yield { type: 'finish', reason: 'stop' };
          return;
        } else {
          throw exitError(name, agent, event, tail);
        }
      }
    } finally {
      // A leftover private HOME does not fail the call, but say so: it may hold the agent's state.
      await rm(home, { recursive: true, force: true }).catch((err: unknown) =>
        this.warn(`could not remove the agent's temporary home ${home}: ${(err as Error).message}`),
      );
    }
  }
}
