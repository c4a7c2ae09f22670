/**
 * How tenant code (setup commands, CLI agents) is isolated: `auto` and `bwrap` both mean bubblewrap
 * or refuse the work; `none` runs it without a sandbox (a trusted single-tenant worker only).
 */
export type SandboxMode = 'auto' | 'bwrap' | 'none';

/** What a run may ask for as its workspace source; checked at the API and again on the worker. */
export interface WorkspacePolicy {
  /** Hosts an https repository URL may name (exact, lower case). */
  allowedHosts: string[];
  /** Absolute folder local repositories must live under; null refuses local paths. */
  localReposRoot: string | null;
}

export interface WorkspaceSettings extends WorkspacePolicy {
  /** Preparation refuses to start below this much free space under the workspaces folder. */
  minFreeMb: number;
  /** Longest a single git command may take. */
  gitTimeoutMs: number;
  /** Longest a single setup command may take. */
  setupTimeoutMs: number;
  /** A setup command writing more than this (stdout + stderr) is killed. */
  setupMaxOutputBytes: number;
  /** Data-segment limit (RLIMIT_DATA) of each setup process. */
  setupMemoryMb: number;
  /** Largest file a setup process may write (RLIMIT_FSIZE). */
  setupMaxFileMb: number;
  /** Most processes (threads included) of one sandbox (RLIMIT_NPROC inside its user namespace). */
  setupMaxProcesses: number;
  /** Give setup commands outbound network (public addresses only; RUNWAY_SANDBOX=none cannot take it away). */
  setupNetwork: boolean;
  sandbox: SandboxMode;
  /** Host uid and gid of sandboxed commands when the worker runs as root (else the worker's own). */
  sandboxUid: number;
  /** Keep the workspaces of succeeded runs (their path stays on the run). */
  keep: boolean;
}

export const DEFAULT_ALLOWED_HOSTS = ['github.com', 'gitlab.com', 'bitbucket.org'];
