import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { tailOf } from '../text';
import type { Readable, Writable } from 'node:stream';

export type OutputStream = 'stdout' | 'stderr';

/** How to start a program: what a sandbox hands to `runProcess`. */
export interface Launch {
  argv: string[];
  cwd: string;
  /** The whole environment of the child: nothing is inherited. */
  env: Record<string, string>;
  /** Extra pipes given to the child as fd 3, 4, …, for a handshake with it. */
  pipes?: number;
  /**
   * Runs once the child is spawned, with the parent ends of its extra pipes. A rejection kills
   * the child's group and is reported as `spawnError`.
   */
  start?: (pipes: (Readable & Writable)[]) => Promise<void>;
  /** Runs once the child and its group are gone (helpers the launch started die here). */
  finish?: () => void;
}

export interface ProcessOptions extends Omit<Launch, 'argv'> {
  /** Aborting kills the process group (a stopped run). */
  signal?: AbortSignal;
  timeoutMs: number;
  /** More output than this (stdout + stderr) kills the process group. */
  maxOutputBytes?: number;
  /** Complete lines as they arrive (carriage returns also end a line, for progress meters). */
  onLine?: (stream: OutputStream, line: string) => void;
  /** Raw output as it arrives. */
  onOutput?: (stream: OutputStream, chunk: Buffer) => void;
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  stdin?: string;
  /** Time between SIGTERM and SIGKILL when the platform kills the group; 0 (default): SIGKILL at once. */
  killGraceMs?: number;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Why the platform killed it, if it did. */
  killed: 'timeout' | 'aborted' | 'output_limit' | null;
  /** The last few KiB of stdout and stderr, interleaved as received. */
  tail: string;
  /** Set when the program could not be started at all (ENOENT, a failed sandbox handshake, …). */
  spawnError?: Error;
}

const TAIL_BYTES = 16 * 1024;
/**
 * A line longer than this is passed on in pieces: a command printing megabytes without a newline
 * would otherwise be re-split from its start on every read (quadratic) and kept whole in memory.
 */
const MAX_LINE_CHARS = 16 * 1024;
/** After the main process exits, how long its pipes may still drain before they are cut. */
const DRAIN_MS = 200;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * Runs argv (never through a shell) as the leader of a new process group, so a stop, a timeout
 * or an output flood kills its whole tree with one signal, and so does its normal end: setup
 * commands and agents must not leave daemons behind. Shared by setup commands, git and agents.
 */
export function runProcess(argv: string[], options: ProcessOptions): Promise<ProcessOutcome> {
  const [file, ...args] = argv;
  if (!file) throw new Error('runProcess needs a program');
  return new Promise((resolve) => {
    let tail = '';
    let bytes = 0;
    let killed: ProcessOutcome['killed'] = null;
    let settled = false;
    let startError: Error | undefined;
    const partial: Record<OutputStream, string> = { stdout: '', stderr: '' };

    if (options.signal?.aborted) {
      options.finish?.();
      resolve({ exitCode: null, signal: null, killed: 'aborted', tail: '' });
      return;
    }
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, {
        cwd: options.cwd,
        env: options.env,
        detached: true, // setsid(): the child leads a new process group we can kill as a whole
        stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...Array<'pipe'>(options.pipes ?? 0).fill('pipe')],
      });
    } catch (err) {
      // Refused before any process existed (an argument over the kernel's 128 KiB, E2BIG): an
      // outcome like any other failure to start, never a throw out of the promise.
      options.finish?.();
      resolve({ exitCode: null, signal: null, killed: null, tail: '', spawnError: err as Error });
      return;
    }

    let graceTimer: NodeJS.Timeout | undefined;
    const kill = (why: NonNullable<ProcessOutcome['killed']>) => {
      if (killed) return;
      killed = why;
      const grace = options.killGraceMs ?? 0;
      if (grace <= 0) return signalGroup(child, 'SIGKILL');
      signalGroup(child, 'SIGTERM');
      graceTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), grace);
    };
    const onAbort = () => kill('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => kill('timeout'), options.timeoutMs);

    const onData = (stream: OutputStream) => (received: Buffer) => {
      // Nothing past the cap is passed on: one read can bring far more than the cap.
      const room = options.maxOutputBytes === undefined ? received.length : options.maxOutputBytes - bytes;
      bytes += received.length;
      if (room < received.length) kill('output_limit');
      if (room <= 0) return;
      const chunk = room < received.length ? received.subarray(0, room) : received;
      options.onOutput?.(stream, chunk);
      const text = chunk.toString('utf8');
      tail = tailOf(tail + text, TAIL_BYTES);
      if (!options.onLine) return;
      const lines = (partial[stream] + text).split(/\r\n|\r|\n/);
      partial[stream] = lines.pop() ?? '';
      for (const line of lines) if (line.length > 0) options.onLine(stream, line);
      if (partial[stream].length >= MAX_LINE_CHARS) {
        options.onLine(stream, partial[stream]);
        partial[stream] = '';
      }
    };
    child.stdout?.on('data', onData('stdout'));
    child.stderr?.on('data', onData('stderr'));
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a program that does not read its stdin is fine
      child.stdin.end(options.stdin);
    }
    const pipes = child.stdio.slice(3) as (Readable & Writable)[];
    for (const pipe of pipes) pipe.on('error', () => undefined); // the child may close its ends first
    if (options.start && child.pid !== undefined) {
      options.start(pipes).catch((err: unknown) => {
        startError = err instanceof Error ? err : new Error(String(err));
        signalGroup(child, 'SIGKILL');
      });
    }

    const finish = (outcome: Omit<ProcessOutcome, 'tail' | 'killed'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      options.signal?.removeEventListener('abort', onAbort);
      for (const pipe of pipes) pipe.destroy();
      options.finish?.();
      for (const stream of ['stdout', 'stderr'] as const) {
        if (partial[stream] && options.onLine) options.onLine(stream, partial[stream]);
      }
      const spawnError = outcome.spawnError ?? startError;
      resolve({ ...outcome, ...(spawnError ? { spawnError } : {}), killed, tail });
    };
    child.once('error', (err) => {
      if (child.pid === undefined) finish({ exitCode: null, signal: null, spawnError: err });
    });
    child.once('exit', (exitCode, signal) => {
      // Whatever the command left running in its group goes with it.
      signalGroup(child, 'SIGKILL');
      // A process that escaped the group may hold the pipes open: do not wait for it forever.
      const cut = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish({ exitCode, signal });
      }, DRAIN_MS);
      child.once('close', () => {
        clearTimeout(cut);
        finish({ exitCode, signal });
      });
    });
  });
}

/** The last `lines` non-empty lines of some output, for error messages. */
export function tailLines(text: string, lines = 15, maxChars = 2000): string {
  const kept = text
    .split(/\r\n|\r|\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0)
    .slice(-lines)
    .join('\n');
  return kept.length > maxChars ? `…${tailOf(kept, maxChars)}` : kept;
}

/** A program found on the worker's own PATH (looked up each time: tests and operators change it). */
export function findProgram(name: string): string | null {
  const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(':').filter(Boolean);
  return dirs.map((d) => path.join(d, name)).find((p) => existsSync(p)) ?? null;
}

let setprivPath: string | null | undefined;

/**
 * Prefixes argv with `setpriv --pdeathsig <signal>`: the program gets that signal when the worker
 * dies, even of a SIGKILL that leaves no chance to run clean-up code. No-op without setpriv.
 */
export function withParentDeathSignal(argv: string[], signal: 'TERM' | 'KILL'): string[] {
  setprivPath ??= findProgram('setpriv');
  return setprivPath ? [setprivPath, '--pdeathsig', signal, '--', ...argv] : argv;
}

/**
 * Wraps argv so that its whole process group dies with the worker: the worker's death TERMs
 * coreutils `timeout`, which passes it to the group and follows with KILL one second later.
 * `timeout` also enforces the deadline by itself, which still holds without setpriv.
 */
export function dieWithWorker(argv: string[], timeoutMs: number): string[] {
  const seconds = String(Math.ceil(timeoutMs / 1000) + 1);
  return withParentDeathSignal(['timeout', '-k', '1', '-s', 'KILL', seconds, ...argv], 'TERM');
}
