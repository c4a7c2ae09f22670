import { runProcess, type Launch } from '../workspaces/process';
import { AsyncQueue } from './async-queue';
import { LineSplitter } from './line-splitter';
import { ProviderError } from './types';

export type ProcessEvent =
  | { type: 'stdout'; text: string }
  | { type: 'stderr'; line: string }
  | { type: 'exit'; code: number | null; signal: NodeJS.Signals | null; timedOut: boolean; outputLimit: boolean };

export interface ProcessSpec {
  /** What to start (inside the sandbox, normally): see `Sandbox.launch`. */
  launch: Launch;
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  stdin?: string;
  /** The caller's stop: the process tree is killed and the reason rethrown. */
  signal: AbortSignal;
  timeoutMs: number;
  /** Output (stdout and stderr) after which the process tree is killed. */
  maxOutputBytes: number;
  /** Time between SIGTERM and SIGKILL, for agents that clean up after themselves. */
  killGraceMs?: number;
}

/**
 * Runs an agent with the platform's process-group runner and yields its stdout lines (newline
 * kept), stderr lines (newline dropped) and finally its exit. The whole group is killed on stop,
 * on timeout, on early return by the consumer, and after the leader exits.
 */
export async function* runAgentProcess(spec: ProcessSpec): AsyncGenerator<ProcessEvent> {
  const queue = new AsyncQueue<ProcessEvent>();
  const stop = new AbortController();
  const out = new LineSplitter((text) => queue.push({ type: 'stdout', text }));
  const err = new LineSplitter((line) => queue.push({ type: 'stderr', line: line.replace(/\r?\n$/, '') }));
  const { argv, ...launch } = spec.launch;
  const done = runProcess(argv, {
    ...launch,
    stdin: spec.stdin,
    signal: stop.signal,
    timeoutMs: spec.timeoutMs,
    maxOutputBytes: spec.maxOutputBytes,
    killGraceMs: spec.killGraceMs ?? 1000,
    onOutput: (stream, chunk) => (stream === 'stdout' ? out : err).write(chunk),
  }).then((outcome) => {
    if (outcome.spawnError) {
      queue.fail(new ProviderError(`cannot start the agent: ${outcome.spawnError.message}`, 'cli_spawn_failed', false));
      return;
    }
    out.end();
    err.end();
    queue.push({ type: 'exit', code: outcome.exitCode, signal: outcome.signal, timedOut: outcome.killed === 'timeout', outputLimit: outcome.killed === 'output_limit' });
    queue.end();
  });

  const onAbort = () => queue.fail(spec.signal.reason);
  spec.signal.addEventListener('abort', onAbort, { once: true });
  if (spec.signal.aborted) onAbort();
  try {
    yield* queue;
  } finally {
    spec.signal.removeEventListener('abort', onAbort);
    stop.abort();
    await done;
  }
}
