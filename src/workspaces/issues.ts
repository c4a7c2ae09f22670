import { refNameProblem } from './refs';
import type { WorkspacePolicy } from './settings';
import { parseRepoSource } from './source';

export interface WorkspaceRequest {
  repo: string;
  ref?: string;
  branch?: string;
  setup?: string[];
}

export interface WorkspaceIssue {
  path: string;
  message: string;
}

/** Everything wrong with a requested workspace that can be known without touching git. */
export function workspaceIssues(spec: WorkspaceRequest, policy: WorkspacePolicy): WorkspaceIssue[] {
  const issues: WorkspaceIssue[] = [];
  const source = parseRepoSource(spec.repo, policy);
  if (!source.ok) issues.push({ path: 'workspace.repo', message: source.message });
  if (spec.ref !== undefined) {
    const problem = refNameProblem(spec.ref);
    if (problem) issues.push({ path: 'workspace.ref', message: problem });
  }
  if (spec.branch !== undefined) {
    const problem = refNameProblem(spec.branch);
    if (problem) issues.push({ path: 'workspace.branch', message: problem });
  }
  spec.setup?.forEach((line, i) => {
    // A NUL cannot be passed in argv; other control characters besides tab/newline are a smell.
    if (/[\x00-\x08\x0b-\x1f\x7f]/.test(line)) {
      issues.push({ path: `workspace.setup.${i}`, message: 'must not contain control characters' });
    }
  });
  return issues;
}
