/**
 * Git's ref-name rules (git-check-ref-format(1)), checked without spawning git so the API can
 * refuse a bad name up front. The worker asks `git check-ref-format --branch` as well.
 */
export function refNameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 255) return 'must be at most 255 characters';
  // Option-like values would be read as flags by git (`--upload-pack=…`, `-f`).
  if (name.startsWith('-')) return 'must not start with "-"';
  // Control characters, space and the characters git reserves for revision syntax.
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return 'contains a character git does not allow in ref names';
  if (name.includes('..')) return 'must not contain ".."';
  if (name.includes('@{')) return 'must not contain "@{"';
  if (name === '@' || name === 'HEAD') return `"${name}" is not a branch name`;
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) return 'has an empty path component';
  if (name.endsWith('.')) return 'must not end with "."';
  for (const part of name.split('/')) {
    if (part.startsWith('.')) return 'a component must not start with "."';
    if (part.endsWith('.lock')) return 'a component must not end with ".lock"';
  }
  return null;
}

/** A full commit id (SHA-1 or SHA-256), which can be fetched alone; `clone --branch` cannot take it. */
export function isFullCommitId(ref: string): boolean {
  return /^([0-9a-f]{40}|[0-9a-f]{64})$/i.test(ref);
}
