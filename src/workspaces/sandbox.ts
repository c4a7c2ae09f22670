import { lstat, readlink } from 'node:fs/promises';
import { WorkspaceError } from './errors';
import { dieWithWorker, runProcess, withParentDeathSignal, tailLines, type OutputStream, type ProcessOutcome } from './process';
import type { WorkspaceSettings } from './settings';

export type SandboxKind = 'bwrap' | 'none';

export interface SandboxStatus {
  kind: SandboxKind;
  /** Why bubblewrap is not used, when it is not. */
  reason: string | null;
}

export interface SetupCommand {
  /** One user-provided shell line, run as `sh -c <line>`. */
  line: string;
  /** The run's checkout: the only host folder the command may write to, and its cwd. */
  workspace: string;
  /** HOME of the command, kept between the commands of one run. */
  home: string;
}

const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SANDBOX_HOME = '/home/runway';
/** The parts of /etc programs need to run and resolve names; nothing else of the host's /etc. */
const ETC_ENTRIES = [
  'passwd', 'group', 'hosts', 'resolv.conf', 'nsswitch.conf', 'host.conf', 'gai.conf', 'services', 'protocols',
  'ssl', 'ca-certificates', 'ca-certificates.conf', 'alternatives', 'localtime', 'timezone',
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'mime.types',
];
const ROOT_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * Runs setup commands with a scrubbed environment (PATH, HOME, LANG only), resource limits
 * (prlimit), a timeout and an output cap, inside bubblewrap when it works on this machine: then
 * the command sees a read-only /usr, a few files of /etc, its workspace and its HOME, no network
 * (unless enabled), no other process, and all of its processes die with the sandbox.
 */
export class SetupSandbox {
  private status?: Promise<SandboxStatus>;

  constructor(
    private readonly settings: WorkspaceSettings,
    /** An existing folder the detection may bind (the workspaces root). */
    private readonly probeDir: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** Detected once per worker: `bwrap --unshare-all … true` either works here or it does not. */
  detect(): Promise<SandboxStatus> {
    this.status ??= this.probe();
    return this.status;
  }

  /** Throws when the configuration demands bubblewrap and it does not work here. */
  async require(): Promise<SandboxStatus> {
    const status = await this.detect();
    if (this.settings.sandbox === 'bwrap' && status.kind !== 'bwrap') {
      throw new WorkspaceError(
        'workspace_sandbox_unavailable',
        `setup: RUNWAY_SANDBOX=bwrap but bubblewrap does not work on this worker: ${status.reason}`,
      );
    }
    return status;
  }

  async run(
    command: SetupCommand,
    options: { signal: AbortSignal; onLine?: (stream: OutputStream, line: string) => void },
  ): Promise<ProcessOutcome> {
    const { kind } = await this.require();
    if (kind === 'bwrap') {
      // bwrap's --die-with-parent covers the sandbox when bwrap dies, not bwrap when the worker does.
      const argv = withParentDeathSignal(['bwrap', ...(await this.bwrapArgs(command)), '--', ...this.limited(command.line)], 'KILL');
      return runProcess(argv, {
        cwd: command.workspace,
        env: { PATH: SANDBOX_PATH },
        signal: options.signal,
        timeoutMs: this.settings.setupTimeoutMs,
        maxOutputBytes: this.settings.setupMaxOutputBytes,
        onLine: options.onLine,
      });
    }
    // Without bubblewrap's --die-with-parent, setpriv + timeout end the tree if the worker dies.
    return runProcess(dieWithWorker(this.limits(command.line), this.settings.setupTimeoutMs), {
      cwd: command.workspace,
      env: { PATH: SANDBOX_PATH, HOME: command.home, LANG: 'C.UTF-8' },
      signal: options.signal,
      timeoutMs: this.settings.setupTimeoutMs,
      maxOutputBytes: this.settings.setupMaxOutputBytes,
      onLine: options.onLine,
    });
  }

  /**
   * prlimit caps memory (data segment: an address-space cap would break V8 and WebAssembly),
   * file size, open files and core dumps.
   */
  private limits(line: string): string[] {
    const mb = 1024 * 1024;
    return [
      'prlimit',
      `--data=${this.settings.setupMemoryMb * mb}`,
      `--fsize=${this.settings.setupMaxFileMb * mb}`,
      '--nofile=4096',
      '--core=0',
      '--',
      '/bin/sh', '-c', line,
    ];
  }

  /** Inside bubblewrap: the limits, and coreutils `timeout` as a deadline of its own. */
  private limited(line: string): string[] {
    const seconds = String(Math.ceil(this.settings.setupTimeoutMs / 1000) + 1);
    return ['timeout', '-s', 'KILL', seconds, ...this.limits(line)];
  }

  private async bwrapArgs(command: SetupCommand): Promise<string[]> {
    const args = [
      '--unshare-all',
      ...(this.settings.setupNetwork ? ['--share-net'] : []),
      // A user namespace without capabilities: the command is uid 1000 inside, whoever runs the worker.
      '--unshare-user', '--uid', '1000', '--gid', '1000',
      '--cap-drop', 'ALL',
      '--die-with-parent', // everything inside dies with bwrap
      '--new-session',
      '--hostname', 'runway-sandbox',
      '--ro-bind', '/usr', '/usr',
    ];
    for (const link of ROOT_LINKS) {
      const info = await lstat(link).catch(() => null);
      if (info?.isSymbolicLink()) args.push('--symlink', await readlink(link), link);
      else if (info?.isDirectory()) args.push('--ro-bind', link, link);
    }
    for (const entry of ETC_ENTRIES) args.push('--ro-bind-try', `/etc/${entry}`, `/etc/${entry}`);
    args.push(
      '--dev', '/dev',
      '--proc', '/proc',
      '--size', String(256 * 1024 * 1024), '--tmpfs', '/tmp',
      '--bind', command.home, SANDBOX_HOME,
      '--bind', command.workspace, command.workspace,
      '--chdir', command.workspace,
      '--clearenv',
      '--setenv', 'PATH', SANDBOX_PATH,
      '--setenv', 'HOME', SANDBOX_HOME,
      '--setenv', 'LANG', 'C.UTF-8',
    );
    return args;
  }

  private async probe(): Promise<SandboxStatus> {
    if (this.settings.sandbox === 'none') return { kind: 'none', reason: 'disabled by RUNWAY_SANDBOX=none' };
    const probe = { line: 'true', workspace: this.probeDir, home: this.probeDir };
    const out = await runProcess(['bwrap', ...(await this.bwrapArgs(probe)), '--', ...this.limited('true')], {
      cwd: this.probeDir,
      env: { PATH: SANDBOX_PATH },
      timeoutMs: 10_000,
    });
    if (out.exitCode === 0) return { kind: 'bwrap', reason: null };
    const reason = out.spawnError
      ? `bwrap is not installed (${out.spawnError.message}); install the "bubblewrap" package`
      : `bwrap failed (${out.killed ?? `exit code ${out.exitCode}`}): ${tailLines(out.tail, 3)}`;
    if (this.settings.sandbox === 'auto') {
      this.warn(`setup commands run WITHOUT a filesystem and network sandbox: ${reason}`);
    }
    return { kind: 'none', reason };
  }
}
