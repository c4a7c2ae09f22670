import { Problem } from '../api/problem';
import { workspaceIssues, type WorkspaceRequest } from './issues';
import { DEFAULT_ALLOWED_HOSTS, type WorkspacePolicy } from './settings';

/** The API's check, before anything is reserved: a 400 problem with a stable type. */
export function assertValidWorkspace(
  spec: WorkspaceRequest | undefined | null,
  policy: WorkspacePolicy = { allowedHosts: DEFAULT_ALLOWED_HOSTS, localReposRoot: null },
): void {
  if (!spec) return;
  const issues = workspaceIssues(spec, policy);
  if (issues.length === 0) return;
  throw new Problem(
    400,
    'invalid-workspace',
    'Invalid workspace',
    issues.map((i) => `${i.path}: ${i.message}`).join('; '),
    { errors: issues },
  );
}
