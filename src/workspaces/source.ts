import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkspacePolicy } from './settings';

/** Where a workspace is cloned from, once the user's `repo` string has been checked. */
export type RepoSource =
  | { kind: 'https'; url: string; host: string }
  /** `path` is absolute and lexically inside the local root; symlinks are resolved on the worker. */
  | { kind: 'local'; path: string };

export type SourceResult = { ok: true; source: RepoSource } | { ok: false; message: string };

const fail = (message: string): SourceResult => ({ ok: false, message });

/**
 * Reads `repo` as either an https URL on the host allow-list or a local path (plain, or a
 * `file://` URL) under the configured root. Everything else is refused: other transports
 * (`ext::`, `ssh`, `git://`, `http://`), option-like values and `..` escapes.
 */
export function parseRepoSource(repo: string, policy: WorkspacePolicy): SourceResult {
  if (repo !== repo.trim() || /[\x00-\x1f\x7f]/.test(repo)) return fail('must not contain control characters or surrounding spaces');
  if (repo.startsWith('-')) return fail('must not start with "-"');
  // `transport::address` runs a remote helper (ext:: runs any command).
  if (repo.includes('::')) return fail('remote-helper addresses ("transport::…") are not allowed');

  if (/^https:\/\//i.test(repo)) return parseHttps(repo, policy);
  if (/^file:/i.test(repo)) {
    let local: string;
    try {
      local = fileURLToPath(repo);
    } catch {
      return fail('is not a valid file:// URL');
    }
    return parseLocal(local, policy);
  }
  // Any other scheme, or scp-like `user@host:path` (ssh), before the first slash.
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(repo) || /^[^/]*:/.test(repo)) {
    return fail('only https URLs and local paths are supported');
  }
  return parseLocal(repo, policy);
}

function parseHttps(repo: string, policy: WorkspacePolicy): SourceResult {
  let url: URL;
  try {
    url = new URL(repo);
  } catch {
    return fail('is not a valid URL');
  }
  // Credentials would be stored with the run and shown to git's credential machinery.
  if (url.username || url.password) return fail('must not contain credentials');
  const host = url.hostname.toLowerCase();
  if (!policy.allowedHosts.includes(host)) {
    return fail(`host "${host}" is not on the allow-list (${policy.allowedHosts.join(', ') || 'empty'})`);
  }
  if (url.pathname.length <= 1) return fail('must name a repository');
  if (url.pathname.split('/').includes('..')) return fail('must not contain ".." path segments');
  return { ok: true, source: { kind: 'https', url: url.href, host } };
}

function parseLocal(local: string, policy: WorkspacePolicy): SourceResult {
  if (!policy.localReposRoot) return fail('local repositories are not enabled (RUNWAY_LOCAL_REPOS_ROOT is not set)');
  if (!path.isAbsolute(local)) return fail('a local repository must be an absolute path');
  if (local.split('/').includes('..')) return fail('must not contain ".." path segments');
  const resolved = path.resolve(local);
  if (!isInside(policy.localReposRoot, resolved)) return fail('local path is outside the allowed root');
  return { ok: true, source: { kind: 'local', path: resolved } };
}

/** True when `child` is `root` itself or below it (compared path-wise, not as string prefixes). */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
