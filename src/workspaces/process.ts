import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export type OutputStream = 'stdout' | 'stderr';

export interface ProcessOptions {
  cwd: string;
  /** The whole environment of the child: nothing is inherited. */
  env: Record<string, string>;
  /** Aborting kills the process group at once (a stopped run). */
  signal?: AbortSignal;
  timeoutMs: number;
  /** More output than this (stdout + stderr) kills the process group. */
  maxOutputBytes?: number;
  /** Complete lines as they arrive (carriage returns also end a line, for progress meters). */
  onLine?: (stream: OutputStream, line: string) => void;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Why the platform killed it, if it did. */
  killed: 'timeout' | 'aborted' | 'output_limit' | null;
  /** The last few KiB of stdout and stderr, interleaved as received. */
  tail: string;
  /** Set when the program could not be started at all (ENOENT, …). */
  spawnError?: Error;
}

const TAIL_BYTES = 16 * 1024;
/** After the main process exits, how long its pipes may still drain before they are cut. */
const DRAIN_MS = 200;

/**
 * Runs argv (never through a shell) as the leader of a new process group, so a stop, a timeout
 * or an output flood kills its whole tree with one signal, and so does its normal end: setup
 * commands must not leave daemons behind.
 */
export function runProcess(argv: string[], options: ProcessOptions): Promise<ProcessOutcome> {
  const [file, ...args] = argv;
  if (!file) throw new Error('runProcess needs a program');
  return new Promise((resolve) => {
    let tail = '';
    let bytes = 0;
    let killed: ProcessOutcome['killed'] = null;
    let settled = false;
    const partial: Record<OutputStream, string> = { stdout: '', stderr: '' };

    if (options.signal?.aborted) {
      resolve({ exitCode: null, signal: null, killed: 'aborted', tail: '' });
      return;
    }
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true, // setsid(): the child leads a new process group we can kill as a whole
      stdio: ['ignore', 'pipe', 'pipe'],
    });

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    };
    const kill = (why: NonNullable<ProcessOutcome['killed']>) => {
      killed ??= why;
      killGroup();
    };
    const onAbort = () => kill('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => kill('timeout'), options.timeoutMs);

    const onData = (stream: OutputStream) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (options.maxOutputBytes !== undefined && bytes > options.maxOutputBytes) kill('output_limit');
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-TAIL_BYTES);
      if (!options.onLine) return;
      const lines = (partial[stream] + text).split(/\r\n|\r|\n/);
      partial[stream] = lines.pop() ?? '';
      for (const line of lines) if (line.length > 0) options.onLine(stream, line);
    };
    child.stdout.on('data', onData('stdout'));
    child.stderr.on('data', onData('stderr'));

    const finish = (outcome: Omit<ProcessOutcome, 'tail' | 'killed'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      for (const stream of ['stdout', 'stderr'] as const) {
        if (partial[stream] && options.onLine) options.onLine(stream, partial[stream]);
      }
      resolve({ ...outcome, killed, tail });
    };
    child.once('error', (err) => finish({ exitCode: null, signal: null, spawnError: err }));
    child.once('exit', (exitCode, signal) => {
      // Whatever the command left running in its group goes with it.
      killGroup();
      // A process that escaped the group may hold the pipes open: do not wait for it forever.
      const cut = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
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
  return kept.length > maxChars ? `…${kept.slice(-maxChars)}` : kept;
}

let setprivPath: string | null | undefined;

/** util-linux `setpriv` (for --pdeathsig), found once on the worker's PATH. */
function setpriv(): string | null {
  if (setprivPath === undefined) {
    const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(':');
    setprivPath = dirs.map((d) => path.join(d, 'setpriv')).find((p) => existsSync(p)) ?? null;
  }
  return setprivPath;
}

/**
 * Prefixes argv with `setpriv --pdeathsig <signal>`: the program gets that signal when the worker
 * dies, even of a SIGKILL that leaves no chance to run clean-up code. No-op without setpriv.
 */
export function withParentDeathSignal(argv: string[], signal: 'TERM' | 'KILL'): string[] {
  const guard = setpriv();
  return guard ? [guard, '--pdeathsig', signal, '--', ...argv] : argv;
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
