/** Stable error codes of workspace preparation; each names the step that failed. */
export type WorkspaceErrorCode =
  | 'workspace_invalid'
  | 'workspace_disk_full'
  | 'workspace_clone_failed'
  | 'workspace_branch_failed'
  | 'workspace_setup_failed'
  | 'workspace_sandbox_unavailable';

/**
 * A failure of one preparation step. `retryable` says whether another attempt could succeed
 * (a network hiccup) or not (a missing ref, a setup command that exits non-zero).
 */
export class WorkspaceError extends Error {
  override name = 'WorkspaceError';
  constructor(
    readonly code: WorkspaceErrorCode,
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** The preparation was stopped (activity cancellation); not a failure of the workspace. */
export class WorkspaceAborted extends Error {
  override name = 'WorkspaceAborted';
}

/** A requested workspace the API refuses before anything is reserved; `issues` names each field at fault. */
export class InvalidWorkspace extends Error {
  override name = 'InvalidWorkspace';
  constructor(readonly issues: { path: string; message: string }[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  }
}
