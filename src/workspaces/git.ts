import { rm } from 'node:fs/promises';
import { WorkspaceAborted, WorkspaceError } from './errors';
import { dieWithWorker, runProcess, tailLines, type ProcessOutcome } from './process';
import { isFullCommitId } from './refs';

/** A clone source already resolved on the worker: an https URL or a file:// URL of a real path. */
export interface GitRemote {
  url: string;
  protocol: 'https' | 'file';
}

export interface GitOptions {
  signal: AbortSignal;
  timeoutMs: number;
  /** A folder git may treat as HOME; no user configuration is read from it. */
  home: string;
}

/**
 * Configuration on every git command: only the source's own transport is allowed (never ext::,
 * ssh, or file:// for a remote repo), no hooks, no credential helpers or prompts, no redirects
 * to hosts off the allow-list, no submodules.
 */
function hardening(protocol: GitRemote['protocol']): string[] {
  const settings = [
    'protocol.allow=never',
    `protocol.https.allow=${protocol === 'https' ? 'always' : 'never'}`,
    `protocol.file.allow=${protocol === 'file' ? 'always' : 'never'}`,
    'core.hooksPath=/dev/null',
    'core.fsmonitor=false',
    'credential.helper=',
    'core.askPass=',
    'http.followRedirects=false',
    'http.sslVerify=true',
    'submodule.recurse=false',
    'fetch.recurseSubmodules=false',
    'init.templateDir=',
    'advice.detachedHead=false',
  ];
  return settings.flatMap((s) => ['-c', s]);
}

/** Git sees no system or user configuration and no platform variables; proxies are kept. */
function gitEnv(protocol: GitRemote['protocol'], home: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C',
    LC_ALL: 'C', // English messages, which the failure classification below reads
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: protocol,
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_LFS_SKIP_SMUDGE: '1',
  };
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy']) {
    const value = process.env[name];
    if (value) env[name] = value;
  }
  return env;
}

export class Git {
  constructor(
    private readonly remote: GitRemote,
    private readonly options: GitOptions,
  ) {}

  /** Runs `git <args>` in `cwd`; throws on abort, returns the outcome otherwise. */
  async run(cwd: string, args: string[], onLine?: (line: string) => void): Promise<ProcessOutcome> {
    const argv = dieWithWorker(['git', ...hardening(this.remote.protocol), ...args], this.options.timeoutMs);
    const outcome = await runProcess(argv, {
      cwd,
      env: gitEnv(this.remote.protocol, this.options.home),
      signal: this.options.signal,
      timeoutMs: this.options.timeoutMs,
      maxOutputBytes: 1024 * 1024,
      onLine: onLine ? (_stream, line) => onLine(line) : undefined,
    });
    if (outcome.killed === 'aborted') throw new WorkspaceAborted('git was stopped');
    return outcome;
  }

  /** `git check-ref-format --branch`: git's own verdict on a name, on top of ours. */
  async isValidBranchName(name: string): Promise<boolean> {
    const out = await this.run('/', ['check-ref-format', '--branch', name]);
    return out.exitCode === 0;
  }

  /**
   * Clones into `dest` (which must not exist), checked out at `ref`, or at `branch` when the
   * remote has it, or at the default branch. Shallow (depth 1) whenever git allows it; a ref
   * that is not a branch or tag (an abbreviated commit id) needs the full history.
   */
  async clone(dest: string, want: { ref?: string; branch?: string }, onPct: (pct: number) => void): Promise<void> {
    const progress = (line: string) => {
      const m = /^(Receiving objects|Resolving deltas):\s+(\d+)%/.exec(line);
      if (m?.[2]) onPct(m[1] === 'Receiving objects' ? Number(m[2]) * 0.8 : 80 + Number(m[2]) * 0.2);
    };
    const shallow = async (name?: string): Promise<'ok' | 'missing'> => {
      await rm(dest, { recursive: true, force: true });
      const args = ['clone', '--progress', '--template=', '--depth', '1', '--no-tags', '--single-branch', '--no-recurse-submodules'];
      if (name) args.push('--branch', name);
      const out = await this.run('/', [...args, '--', this.remote.url, dest], progress);
      if (out.exitCode === 0) return 'ok';
      if (name && /Remote branch .* not found|Could not find remote branch/i.test(out.tail)) return 'missing';
      throw cloneFailure(out);
    };

    if (want.ref) {
      if (isFullCommitId(want.ref)) {
        if (await this.shallowCommit(dest, want.ref)) return;
      } else if ((await shallow(want.ref)) === 'ok') {
        return; // a branch or a tag
      }
      await this.fullCloneAt(dest, want.ref, progress);
      return;
    }
    if (want.branch && (await shallow(want.branch)) === 'ok') return;
    await shallow();
  }

  /** Fetches one commit by id at depth 1 (servers speaking protocol v2 allow it). */
  private async shallowCommit(dest: string, sha: string): Promise<boolean> {
    await rm(dest, { recursive: true, force: true });
    const init = await this.run('/', ['init', '--quiet', '--template=', '--', dest]);
    if (init.exitCode !== 0) throw cloneFailure(init);
    const fetched = await this.run(dest, ['fetch', '--quiet', '--depth', '1', '--no-tags', '--', this.remote.url, sha]);
    if (fetched.exitCode !== 0) return false;
    const checkout = await this.run(dest, ['checkout', '--quiet', '--detach', 'FETCH_HEAD']);
    if (checkout.exitCode !== 0) throw cloneFailure(checkout);
    return true;
  }

  private async fullCloneAt(dest: string, ref: string, progress: (line: string) => void): Promise<void> {
    await rm(dest, { recursive: true, force: true });
    const out = await this.run('/', ['clone', '--progress', '--template=', '--no-checkout', '--no-recurse-submodules', '--', this.remote.url, dest], progress);
    if (out.exitCode !== 0) throw cloneFailure(out);
    const resolved = await this.run(dest, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
    const sha = resolved.tail.trim();
    if (resolved.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(sha)) {
      throw new WorkspaceError('workspace_clone_failed', `clone: ref "${ref}" was not found in the repository`);
    }
    const checkout = await this.run(dest, ['checkout', '--quiet', '--detach', sha]);
    if (checkout.exitCode !== 0) throw cloneFailure(checkout);
  }

  /** Creates `branch` at the checked-out commit, or moves it there, and switches to it. */
  async checkoutBranch(dir: string, branch: string): Promise<void> {
    const out = await this.run(dir, ['checkout', '--quiet', '--no-track', '-B', branch]);
    if (out.exitCode !== 0) {
      throw new WorkspaceError('workspace_branch_failed', `branch: git checkout -B ${branch} failed: ${tailLines(out.tail)}`);
    }
  }

  /** `main @ 1a2b3c4` or `detached @ 1a2b3c4`, for progress messages. */
  async describeHead(dir: string): Promise<string> {
    const name = await this.run(dir, ['rev-parse', '--abbrev-ref', 'HEAD']);
    const sha = await this.run(dir, ['rev-parse', '--short', 'HEAD']);
    const branch = name.tail.trim() === 'HEAD' ? 'detached' : name.tail.trim();
    return `${branch} @ ${sha.tail.trim()}`;
  }
}

/** Retrying cannot fix a missing repository, a refused transport or missing credentials. */
const PERMANENT = /not found|does not exist|not a git repository|not allowed|Authentication failed|could not read Username|terminal prompts disabled|returned error: 40[0-9]|repository .* does not appear/i;

function cloneFailure(out: ProcessOutcome): WorkspaceError {
  if (out.spawnError) return new WorkspaceError('workspace_clone_failed', `clone: cannot run git: ${out.spawnError.message}`);
  const why = out.killed === 'timeout' ? 'timed out' : out.killed === 'output_limit' ? 'wrote too much output' : `exited with code ${out.exitCode}`;
  // "Cloning into '<worker path>'" tells the user nothing and the worker's layout too much.
  const tail = tailLines(out.tail.replace(/^Cloning into .*$/gm, ''));
  return new WorkspaceError('workspace_clone_failed', `clone: git ${why}: ${tail}`, !PERMANENT.test(tail) && out.killed !== 'output_limit');
}
