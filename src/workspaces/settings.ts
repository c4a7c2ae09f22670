/** How setup commands are isolated: `auto` uses bubblewrap when it works here, else the fallback. */
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
  /** Give setup commands the network (bubblewrap only; the fallback cannot take it away). */
  setupNetwork: boolean;
  sandbox: SandboxMode;
  /** Keep the workspaces of succeeded runs (their path stays on the run). */
  keep: boolean;
}

export const DEFAULT_ALLOWED_HOSTS = ['github.com', 'gitlab.com', 'bitbucket.org'];
