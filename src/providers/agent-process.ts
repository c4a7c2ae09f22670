import { spawn, type ChildProcess } from 'node:child_process';
import { AsyncQueue } from './async-queue';
import { LineSplitter } from './line-splitter';
import { ProviderError } from './types';

export type ProcessEvent =
  | { type: 'stdout'; text: string }
  | { type: 'stderr'; line: string }
  | { type: 'exit'; code: number | null; signal: NodeJS.Signals | null; timedOut: boolean };

export interface ProcessSpec {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  stdin?: string;
  /** The caller's stop: the process tree is killed and the reason rethrown. */
  signal: AbortSignal;
  timeoutMs: number;
  /** Time between SIGTERM and SIGKILL, for agents that clean up after themselves. */
  killGraceMs?: number;
}

/** Signals every process of the group the child leads; a group already gone is fine. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

const running = (child: ChildProcess) => child.pid !== undefined && child.exitCode === null && child.signalCode === null;

/** SIGTERM to the group, SIGKILL after the grace period, then SIGKILL again for stragglers. */
async function terminate(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return; // never started
  if (running(child)) {
    signalGroup(pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([exited, graceOver]);
    clearTimeout(timer);
    if (running(child)) signalGroup(pid, 'SIGKILL');
    await exited;
  }
  signalGroup(pid, 'SIGKILL');
}

/**
 * Runs a command (never through a shell) as the leader of a new process group, and yields its
 * stdout lines (newline kept), stderr lines (newline dropped) and finally its exit. The whole
 * group is killed on stop, on timeout, on early return by the consumer, and after the leader
 * exits (stragglers would otherwise keep the pipes, and the machine, busy).
 */
export async function* runAgentProcess(spec: ProcessSpec): AsyncGenerator<ProcessEvent> {
  const graceMs = spec.killGraceMs ?? 1000;
  const queue = new AsyncQueue<ProcessEvent>();
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    detached: true, // its own process group, so that a stop reaches its children too
    shell: false,
    stdio: [spec.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => {
      if (child.pid === undefined) resolve(); // spawn failed: there will be no exit
    });
  });
  child.once('error', (err) => {
    if (child.pid === undefined) queue.fail(new ProviderError(`cannot start the agent: ${err.message}`, 'cli_spawn_failed', false));
  });
  child.once('exit', () => {
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    // A descendant that left the group (setsid) may still hold the pipes: stop waiting for them.
    setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, 2000).unref();
  });

  let timedOut = false;
  const out = new LineSplitter((text) => queue.push({ type: 'stdout', text }));
  const err = new LineSplitter((line) => queue.push({ type: 'stderr', line: line.replace(/\r?\n$/, '') }));
  child.stdout?.on('data', (d: Buffer) => out.write(d));
  child.stdout?.on('end', () => out.end());
  child.stderr?.on('data', (d: Buffer) => err.write(d));
  child.stderr?.on('end', () => err.end());
  child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
    queue.push({ type: 'exit', code, signal, timedOut });
    queue.end();
  });
  if (child.stdin) {
    child.stdin.on('error', () => undefined); // an agent that does not read its stdin is fine
    child.stdin.end(spec.stdin);
  }

  const timer = setTimeout(() => {
    timedOut = true;
    void terminate(child, exited, graceMs);
  }, spec.timeoutMs);
  const onAbort = () => queue.fail(spec.signal.reason);
  spec.signal.addEventListener('abort', onAbort, { once: true });
  if (spec.signal.aborted) onAbort();

  try {
    yield* queue;
  } finally {
    clearTimeout(timer);
    spec.signal.removeEventListener('abort', onAbort);
    await terminate(child, exited, graceMs);
  }
}
