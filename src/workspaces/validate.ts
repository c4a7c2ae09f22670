import { InvalidWorkspace } from './errors';
import { workspaceIssues, type WorkspaceRequest } from './issues';
import { DEFAULT_ALLOWED_HOSTS, type WorkspacePolicy } from './settings';

/** The API's check, before anything is reserved: every issue at once, as one InvalidWorkspace. */
export function assertValidWorkspace(
  spec: WorkspaceRequest | undefined | null,
  policy: WorkspacePolicy = { allowedHosts: DEFAULT_ALLOWED_HOSTS, localReposRoot: null },
): void {
  if (!spec) return;
  const issues = workspaceIssues(spec, policy);
  if (issues.length === 0) return;
  throw new InvalidWorkspace(issues);
}
