import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { runProcess, tailLines, type ProcessOutcome } from '../workspaces/process';
import type { Sandbox } from '../workspaces/sandbox';
import { excerpt } from '../text';
import { parseToolArguments, type WorkspaceToolArgs } from './workspace-tool-args';
import { BoundedCapture, boundedResult, occurrences } from './workspace-tool-output';
import {
  LIST_SCRIPT,
  READ_SCRIPT,
  READ_WHOLE_SCRIPT,
  REFUSED_EXIT_CODE,
  REPLACE_SCRIPT,
  SEARCH_SCRIPT,
  WRITE_SCRIPT,
} from './workspace-tool-scripts';
import { TOOL_RESULT_MAX_BYTES, WORKSPACE_TOOL_NAMES, type ToolOutcome, type ToolSpec, type WorkspaceToolName } from './types';

export { workspaceToolSpecs } from './workspace-tool-specs';

export interface WorkspaceToolLimits {
  /** Longest run_command may take. */
  commandTimeoutMs: number;
  /** Longest one process of a file tool may take (edit_file runs two). */
  fileTimeoutMs: number;
  /** Bytes of a result the model sees (TOOL_RESULT_MAX_BYTES). */
  maxResultBytes: number;
  /** Longest arguments JSON accepted, in UTF-16 units. */
  maxArgumentsChars: number;
  /** Largest content write_file writes and edit_file leaves, in bytes. */
  maxWriteBytes: number;
  /** Largest file edit_file edits, in bytes. */
  maxEditFileBytes: number;
  /** Lines read_file returns when the call names no limit. */
  defaultReadLines: number;
  /** Most entries list_files returns. */
  maxListEntries: number;
  /** Most matching lines search returns. */
  maxSearchMatches: number;
  /** Characters of one matching line shown by search (the rest of the line is cut). */
  maxSearchLineChars: number;
  /** run_command writing more than this (stdout + stderr) is killed, as setup commands are. */
  maxCommandOutputBytes: number;
}

export const DEFAULT_WORKSPACE_TOOL_LIMITS: WorkspaceToolLimits = {
  commandTimeoutMs: 60_000,
  fileTimeoutMs: 10_000,
  maxResultBytes: TOOL_RESULT_MAX_BYTES,
  maxArgumentsChars: 4 * 1024 * 1024,
  maxWriteBytes: 1024 * 1024,
  maxEditFileBytes: 1024 * 1024,
  defaultReadLines: 2000,
  maxListEntries: 1000,
  maxSearchMatches: 200,
  maxSearchLineChars: 500,
  maxCommandOutputBytes: 4 * 1024 * 1024,
};

export interface WorkspaceToolContext {
  /** The run's checkout: where the tools work, the only folder they may touch. */
  workspace: string;
  /** HOME of the sandboxed processes, kept between the calls of one run. */
  home: string;
  /** A stopped run: kills the tool's process group at once; `execute` then rejects with its reason. */
  signal: AbortSignal;
}

/** One sandboxed process of a tool, its output bounded. */
interface Ran {
  out: ProcessOutcome;
  stdout: BoundedCapture;
  stderr: BoundedCapture;
}

interface Job {
  argv: string[];
  timeoutMs: number;
  /** Bytes of stdout kept (stderr keeps a few KiB). */
  keep: number;
  stdin?: string;
  /** stderr goes to the stdout capture, interleaved as received (run_command's combined output). */
  combined?: boolean;
  maxOutputBytes?: number;
}

const STDERR_KEEP = 4096;
/** A file tool's programs bound their own output; this only stops one that misbehaves. */
const FILE_TOOL_OUTPUT_SLACK = 64 * 1024;
const ARG0 = 'runway-tool';

const fail = (error: string, sandboxMs = 0): ToolOutcome => ({ result: '', truncated: false, error, sandboxMs });

/**
 * The built-in workspace tools (read_file, write_file, edit_file, list_files, search,
 * run_command). Every call runs as a process in the same sandbox as setup commands (the run's
 * workspace writable, no network, the setup limits, an allow-listed environment) and is refused
 * when that sandbox does not work here, unless the operator chose RUNWAY_SANDBOX=none. Failures
 * come back as `ToolOutcome.error`; only a stop (the AbortSignal) rejects.
 */
export class WorkspaceTools {
  private readonly limits: WorkspaceToolLimits;

  constructor(
    private readonly sandbox: Sandbox,
    limits: Partial<WorkspaceToolLimits> = {},
  ) {
    this.limits = { ...DEFAULT_WORKSPACE_TOOL_LIMITS, ...limits };
  }

  async execute(name: string, argumentsJson: string, ctx: WorkspaceToolContext): Promise<ToolOutcome> {
    ctx.signal.throwIfAborted();
    if (!isWorkspaceTool(name)) return fail(`unknown tool "${excerpt(name, 100)}"`);
    const parsed = parseToolArguments(name, argumentsJson, this.limits.maxArgumentsChars);
    if (!parsed.ok) return fail(parsed.error);
    // As for setup commands: refused without a working sandbox unless RUNWAY_SANDBOX=none; never networked.
    const problem = await untilAborted(this.sandbox.unavailable(false), ctx.signal);
    if (problem) return fail(`sandbox unavailable: workspace tools are refused because ${problem} (RUNWAY_SANDBOX=none runs them without a sandbox, for a trusted single-tenant worker only)`);
    const workspace = await realpath(ctx.workspace).catch(() => null);
    if (!workspace) return fail('the workspace is missing');
    const call = new ToolCall(this.sandbox, this.limits, { ...ctx, workspace });
    const outcome = await call.run(name, parsed.args);
    ctx.signal.throwIfAborted(); // a stop is not a tool failure: the caller ends the run
    return outcome;
  }
}

/**
 * `promise`, or a rejection with the stop's reason as soon as the run is stopped: the first call
 * of a run may wait for the sandbox probe or for the workspace to be handed to the sandbox user
 * (chown -R), neither of which takes a signal, and a stop must end a tool at once. What is left
 * finishes in the background, bounded by its own timeout; a job without network holds nothing
 * that needs `finish`.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function isWorkspaceTool(name: string): name is WorkspaceToolName {
  return (WORKSPACE_TOOL_NAMES as readonly string[]).includes(name);
}

/** One tool call: its processes and the sandbox time they took. */
class ToolCall {
  private sandboxMs = 0;

  constructor(
    private readonly sandbox: Sandbox,
    private readonly limits: WorkspaceToolLimits,
    private readonly ctx: WorkspaceToolContext,
  ) {}

  run(name: WorkspaceToolName, args: WorkspaceToolArgs[WorkspaceToolName]): Promise<ToolOutcome> {
    switch (name) {
      case 'read_file':
        return this.readFile(args as WorkspaceToolArgs['read_file']);
      case 'write_file':
        return this.writeFile(args as WorkspaceToolArgs['write_file']);
      case 'edit_file':
        return this.editFile(args as WorkspaceToolArgs['edit_file']);
      case 'list_files':
        return this.listFiles(args as WorkspaceToolArgs['list_files']);
      case 'search':
        return this.search(args as WorkspaceToolArgs['search']);
      case 'run_command':
        return this.runCommand(args as WorkspaceToolArgs['run_command']);
    }
  }

  /** Lines `offset`… of a text file, numbered like `cat -n` (`     12\tline`). */
  private async readFile(args: WorkspaceToolArgs['read_file']): Promise<ToolOutcome> {
    const offset = args.offset ?? 1;
    const limit = args.limit ?? this.limits.defaultReadLines;
    const keep = this.limits.maxResultBytes;
    // One line more than asked tells whether the file goes on.
    const ran = await this.script(READ_SCRIPT, [args.path, String(offset), String(limit + 1), String(keep + 1)], { keep: keep + 1 });
    const failed = this.failure(ran);
    if (failed) return failed;
    const raw = ran.stdout.bytes();
    if (raw.includes(0)) return this.fail(`${args.path} is a binary file`);
    const cutBytes = raw.length > keep;
    let lines = raw.subarray(0, keep).toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    else if (cutBytes && lines.length > 1) lines.pop(); // a line cut in the middle is left for the next read
    const more = !cutBytes && lines.length > limit;
    if (more) lines = lines.slice(0, limit);
    if (lines.length === 0) return this.ok(offset === 1 ? `(${args.path} is empty)` : `(${args.path} has fewer than ${offset} lines)`);
    const next = offset + lines.length;
    const numbered = lines.map((line, i) => `${String(offset + i).padStart(6)}\t${line}`).join('\n');
    const hint = more ? `\n(more lines follow: read on with offset ${next})` : '';
    return this.ok(`${numbered}${hint}`, cutBytes);
  }

  private async writeFile(args: WorkspaceToolArgs['write_file']): Promise<ToolOutcome> {
    const bytes = Buffer.byteLength(args.content);
    if (bytes > this.limits.maxWriteBytes) return this.fail(`content is ${bytes} bytes, more than the ${this.limits.maxWriteBytes} write_file writes`);
    const ran = await this.script(WRITE_SCRIPT, [args.path], { keep: 0, stdin: args.content });
    return this.failure(ran) ?? this.ok(`wrote ${bytes} bytes to ${args.path}`);
  }

  /** Reads the file, replaces the one occurrence here, and writes it back unless it changed meanwhile. */
  private async editFile(args: WorkspaceToolArgs['edit_file']): Promise<ToolOutcome> {
    const max = this.limits.maxEditFileBytes;
    const read = await this.script(READ_WHOLE_SCRIPT, [args.path, String(max + 1)], { keep: max + 1 });
    const failed = this.failure(read);
    if (failed) return failed;
    const raw = read.stdout.bytes();
    if (raw.length > max) return this.fail(`${args.path} is larger than the ${max} bytes edit_file edits; use run_command`);
    const text = raw.toString('utf8');
    if (raw.includes(0) || !Buffer.from(text, 'utf8').equals(raw)) return this.fail(`${args.path} is not UTF-8 text; use run_command`);
    const found = occurrences(text, args.old_string);
    if (found.count === 0) return this.fail(`old_string was not found in ${args.path}`);
    if (found.count > 1) {
      return this.fail(`old_string occurs ${found.count} times in ${args.path}; it must occur exactly once: include more of the surrounding text`);
    }
    const at = found.positions[0] ?? 0;
    const edited = text.slice(0, at) + args.new_string + text.slice(at + args.old_string.length);
    const bytes = Buffer.byteLength(edited);
    if (bytes > this.limits.maxWriteBytes) return this.fail(`the edited file would be ${bytes} bytes, more than the ${this.limits.maxWriteBytes} allowed`);
    const sum = createHash('sha256').update(raw).digest('hex');
    const write = await this.script(REPLACE_SCRIPT, [args.path, sum], { keep: 0, stdin: edited });
    const line = text.slice(0, at).split('\n').length;
    return this.failure(write) ?? this.ok(`replaced 1 occurrence in ${args.path} at line ${line}`);
  }

  private async listFiles(args: WorkspaceToolArgs['list_files']): Promise<ToolOutcome> {
    const max = this.limits.maxListEntries;
    const dir = args.path ?? '.';
    // Absolute paths of at most PATH_MAX bytes each.
    const ran = await this.script(LIST_SCRIPT, [dir, String(max + 1)], { keep: (max + 1) * 4097 });
    const failed = this.failure(ran);
    if (failed) return failed;
    const entries = ran.stdout.bytes().toString('utf8').split('\0').filter(Boolean);
    const more = entries.length > max;
    const shown = entries.slice(0, max).map((p) => this.relative(p)).sort();
    if (shown.length === 0) return this.ok(`(${dir} is empty)`);
    const hint = more ? `\n(more than ${max} entries: list a subfolder)` : '';
    return this.ok(`${shown.map(printable).join('\n')}${hint}`);
  }

  private async search(args: WorkspaceToolArgs['search']): Promise<ToolOutcome> {
    const max = this.limits.maxSearchMatches;
    const lineChars = this.limits.maxSearchLineChars + this.ctx.workspace.length + 32; // the path and line number come first
    const mode = args.regex ? '-E' : '-F';
    const scriptArgs = [args.path ?? '.', mode, args.pattern, String(max + 1), String(lineChars)];
    const ran = await this.script(SEARCH_SCRIPT, scriptArgs, { keep: (max + 1) * (lineChars + 1) });
    const failed = this.failure(ran);
    if (failed) return failed;
    const lines = ran.stdout.bytes().toString('utf8').split('\n').filter(Boolean);
    if (lines.length === 0) {
      // grep's status is lost in the pipe: a bad regex shows as silence plus stderr.
      const why = tailLines(ran.stderr.bytes().toString('utf8'), 3);
      return why ? this.fail(`search failed: ${why}`) : this.ok('(no matches)');
    }
    const more = lines.length > max;
    const shown = lines.slice(0, max).map((l) => this.relative(l));
    const hint = more ? `\n(more than ${max} matching lines: narrow the pattern or the path)` : '';
    return this.ok(`${shown.join('\n')}${hint}`);
  }

  /** `sh -c <command>` in the workspace: combined output; a non-zero exit is an error with the output as result. */
  private async runCommand(args: WorkspaceToolArgs['run_command']): Promise<ToolOutcome> {
    const keep = this.limits.maxResultBytes + 1;
    const ran = await this.process({
      // One pipe for both streams keeps them in the order written; the sandbox's own errors still come on stderr.
      argv: ['/bin/sh', '-c', 'exec 2>&1; exec /bin/sh -c "$1"', ARG0, args.command],
      timeoutMs: this.limits.commandTimeoutMs,
      keep,
      combined: true,
      maxOutputBytes: this.limits.maxCommandOutputBytes,
    });
    const output = ran.stdout.bytes();
    const shown = boundedResult(output.length === 0 ? '(no output)' : output, this.limits.maxResultBytes, ran.stdout.overflowed);
    const { out } = ran;
    let error: string | undefined;
    if (out.spawnError) error = `could not start: ${out.spawnError.message}`;
    else if (out.killed === 'timeout') error = `timed out after ${this.limits.commandTimeoutMs} ms`;
    else if (out.killed === 'output_limit') error = `wrote more than ${this.limits.maxCommandOutputBytes} bytes of output and was killed`;
    else if (out.exitCode === null) error = `killed by ${out.signal ?? 'a signal'}`;
    else if (out.exitCode !== 0) error = `exit code ${out.exitCode}`;
    return { ...shown, ...(error ? { error } : {}), sandboxMs: this.sandboxMs };
  }

  /** A file tool's script, run as `sh -c SCRIPT runway-tool <workspace> args…`. */
  private async script(script: string, args: string[], job: { keep: number; stdin?: string }): Promise<Ran> {
    return this.process({
      argv: ['/bin/sh', '-c', script, ARG0, this.ctx.workspace, ...args],
      timeoutMs: this.limits.fileTimeoutMs,
      keep: job.keep,
      stdin: job.stdin,
      maxOutputBytes: job.keep + STDERR_KEEP + FILE_TOOL_OUTPUT_SLACK,
    });
  }

  /** Starts one sandboxed process and waits for it. */
  private async process(job: Job): Promise<Ran> {
    const stdout = new BoundedCapture(job.keep);
    const stderr = job.combined ? stdout : new BoundedCapture(STDERR_KEEP);
    const sandboxJob = { argv: job.argv, workspace: this.ctx.workspace, home: this.ctx.home, network: false, timeoutMs: job.timeoutMs };
    let launch;
    try {
      launch = await untilAborted(this.sandbox.launch(sandboxJob), this.ctx.signal);
    } catch (err) {
      this.ctx.signal.throwIfAborted();
      // Reported like a failed start: the sandbox could not be set up (bwrap gone, HOME missing…).
      const spawnError = err instanceof Error ? err : new Error(String(err));
      return { out: { exitCode: null, signal: null, killed: null, tail: '', spawnError }, stdout, stderr };
    }
    const { argv, ...options } = launch;
    const started = performance.now();
    const out = await runProcess(argv, {
      ...options,
      signal: this.ctx.signal,
      timeoutMs: job.timeoutMs,
      maxOutputBytes: job.maxOutputBytes,
      stdin: job.stdin,
      onOutput: (stream, chunk) => (stream === 'stdout' ? stdout : stderr).push(chunk),
    });
    this.sandboxMs += Math.round(performance.now() - started);
    return { out, stdout, stderr };
  }

  /** Why a file tool's process failed, as the model is told; null when it succeeded. */
  private failure(ran: Ran): ToolOutcome | null {
    const { out } = ran;
    const said = tailLines(ran.stderr.bytes().toString('utf8'), 5);
    if (out.spawnError) return this.fail(`could not start: ${out.spawnError.message}`);
    if (out.killed === 'timeout') return this.fail(`timed out after ${this.limits.fileTimeoutMs} ms`);
    if (out.killed === 'output_limit') return this.fail('wrote more output than expected and was killed');
    if (out.exitCode === REFUSED_EXIT_CODE) return this.fail(said || 'refused');
    if (out.exitCode !== 0) return this.fail(`failed (${out.exitCode === null ? `killed by ${out.signal}` : `exit code ${out.exitCode}`})${said ? `: ${said}` : ''}`);
    return null;
  }

  /** A path the sandbox printed, relative to the workspace (the sandbox shows it at its own path). */
  private relative(printed: string): string {
    const prefix = `${this.ctx.workspace}/`;
    return printed.startsWith(prefix) ? printed.slice(prefix.length) : printed;
  }

  private ok(text: string, cut = false): ToolOutcome {
    return { ...boundedResult(text, this.limits.maxResultBytes, cut), sandboxMs: this.sandboxMs };
  }

  private fail(error: string): ToolOutcome {
    return fail(excerpt(error, 2000), this.sandboxMs);
  }
}

/** A file name as one line: names holding control characters (a newline…) are shown JSON-quoted. */
function printable(name: string): string {
  return /[\x00-\x1f\x7f]/.test(name) ? JSON.stringify(name) : name;
}

export type { ToolOutcome, ToolSpec, WorkspaceToolName };
