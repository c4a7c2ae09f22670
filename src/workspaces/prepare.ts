import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { assertFreeSpace } from './disk';
import { WorkspaceAborted, WorkspaceError } from './errors';
import { Git, type GitRemote } from './git';
import { removeWorkspace, workspaceLayout, type WorkspaceLayout } from './layout';
import { tailLines, type OutputStream, type ProcessOutcome } from './process';
import type { Sandbox } from './sandbox';
import type { WorkspaceSettings } from './settings';
import { isInside, parseRepoSource } from './source';
import { sanitize, truncate } from '../text';
import { workspaceIssues, type WorkspaceRequest } from './issues';

export type PrepareStep = 'disk_check' | 'clone' | 'branch' | 'setup' | 'ready';

export interface PrepareProgress {
  step: PrepareStep;
  message: string;
  /** Overall progress of the preparation, 0–100. */
  pct?: number;
}

export interface PrepareHooks {
  signal: AbortSignal;
  /** A step began or finished: persisted, shown on the run and in its events. */
  progress(p: PrepareProgress): Promise<void>;
  /** Frequent, unimportant progress (clone percentage): may be dropped. */
  tick(p: PrepareProgress): void;
  /** A line a setup command wrote. */
  log(stream: OutputStream, line: string): void;
}

export interface PrepareRequest {
  runId: string;
  /** Attempt number of this preparation (1 for the first). */
  attempt: number;
  spec: WorkspaceRequest;
  /** The workspaces folder (RUNWAY_WORKSPACES_DIR). */
  root: string;
  settings: WorkspaceSettings;
  sandbox: Sandbox;
}

export interface Prepared {
  path: string;
  /** True when an earlier attempt had finished already and nothing was redone. */
  reused: boolean;
}

/**
 * disk_check → clone → branch → setup → ready. Idempotent by redoing: an attempt that finds a
 * complete workspace (ready marker with the same spec) returns it, anything else is wiped and
 * prepared from scratch, since a half-run setup command cannot be resumed safely.
 */
export async function prepareWorkspace(req: PrepareRequest, hooks: PrepareHooks): Promise<Prepared> {
  const layout = workspaceLayout(req.root, req.runId);
  const fingerprint = fingerprintOf(req.spec);
  if (await isReady(layout, fingerprint)) {
    await hooks.progress({ step: 'ready', message: 'workspace already prepared by an earlier attempt', pct: 100 });
    return { path: layout.dir, reused: true };
  }

  await hooks.progress({ step: 'disk_check', message: 'checking free disk space', pct: 0 });
  const free = await assertFreeSpace(req.root, req.settings.minFreeMb);
  const remote = await resolveRemote(req);
  const setup = req.spec.setup ?? [];
  if (setup.length > 0) await req.sandbox.require(); // fail before cloning, not after
  // Whatever an earlier attempt left is redone from nothing. Each attempt clones into a folder
  // of its own, so a git of a dead worker that is still exiting cannot write into this one.
  await removeWorkspace(req.root, req.runId);
  checkAborted(hooks.signal);
  const partial = layout.partialFor(req.attempt);

  const git = new Git(remote, { signal: hooks.signal, timeoutMs: req.settings.gitTimeoutMs, home: req.root });
  for (const [field, name] of [['ref', req.spec.ref], ['branch', req.spec.branch]] as const) {
    if (name !== undefined && !(await git.isValidBranchName(name))) {
      throw new WorkspaceError('workspace_invalid', `${field} "${name}" is not a valid git ref name`);
    }
  }

  await hooks.progress({ step: 'clone', message: `cloning ${displayUrl(remote)} (${free} MiB free)`, pct: 5 });
  await mkdir(path.dirname(partial), { recursive: true });
  await git.clone(partial, { ref: req.spec.ref, branch: req.spec.branch }, (pct) =>
    hooks.tick({ step: 'clone', message: `cloning: ${Math.round(pct)}%`, pct: 5 + Math.round(pct * 0.45) }),
  );
  await rename(partial, layout.dir);
  // Silent on purpose: what is left of the partials folder goes with the workspace (removeWorkspace).
  await rm(layout.partials, { recursive: true, force: true }).catch(() => undefined);

  if (req.spec.branch) await git.checkoutBranch(layout.dir, req.spec.branch);
  const head = await git.describeHead(layout.dir);
  await hooks.progress({ step: 'branch', message: `on ${head}`, pct: 55 });

  await mkdir(layout.home, { recursive: true });
  for (const [i, line] of setup.entries()) {
    const label = `${i + 1}/${setup.length}`;
    await hooks.progress({ step: 'setup', message: `running ${label}: ${shorten(line)}`, pct: 60 + Math.round((35 * i) / setup.length) });
    const out = await req.sandbox.run(
      { line, workspace: layout.dir, home: layout.home },
      { signal: hooks.signal, onLine: (stream, l) => hooks.log(stream, l) },
    );
    if (out.killed === 'aborted') throw new WorkspaceAborted('setup was stopped');
    if (out.exitCode !== 0 || out.killed) {
      const tail = tailLines(out.tail);
      const why = setupFailureReason(out, req.settings);
      throw new WorkspaceError('workspace_setup_failed', `setup: command ${label} (${shorten(line)}) ${why}${tail ? `; output:\n${tail}` : ''}`);
    }
  }

  await mkdir(path.dirname(layout.readyMarker), { recursive: true });
  await writeFile(layout.readyMarker, JSON.stringify({ fingerprint, preparedAt: new Date().toISOString() }));
  await hooks.progress({ step: 'ready', message: `workspace ready at ${layout.dir} (${head})`, pct: 100 });
  return { path: layout.dir, reused: false };
}

function setupFailureReason(out: ProcessOutcome, settings: WorkspaceSettings): string {
  if (out.spawnError) return `could not start: ${out.spawnError.message}`;
  if (out.killed === 'timeout') return `timed out after ${settings.setupTimeoutMs} ms`;
  if (out.killed === 'output_limit') return `wrote more than ${settings.setupMaxOutputBytes} bytes of output`;
  if (out.exitCode === null) return `was killed by ${out.signal}`;
  return `exited with code ${out.exitCode}`;
}

/** The user's repo string, re-validated here (the API may run other code) and made concrete. */
async function resolveRemote(req: PrepareRequest): Promise<GitRemote> {
  const issues = workspaceIssues(req.spec, req.settings);
  if (issues.length > 0) {
    throw new WorkspaceError('workspace_invalid', issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  }
  const parsed = parseRepoSource(req.spec.repo, req.settings);
  if (!parsed.ok) throw new WorkspaceError('workspace_invalid', parsed.message);
  if (parsed.source.kind === 'https') return { url: parsed.source.url, protocol: 'https' };
  // Symlinks are resolved here, on the machine that clones: a link under the root that points
  // outside it is refused like the path it points to.
  const root = req.settings.localReposRoot;
  const real = await realpath(parsed.source.path).catch(() => null);
  const realRoot = root ? await realpath(root).catch(() => null) : null;
  if (!real || !realRoot || !(await stat(real)).isDirectory()) {
    throw new WorkspaceError('workspace_invalid', `clone: local repository ${parsed.source.path} does not exist`);
  }
  if (!isInside(realRoot, real)) throw new WorkspaceError('workspace_invalid', 'clone: local repository resolves outside the allowed root');
  // Through file:// rather than a plain path: no hard links into the source (the sandbox could
  // write through them), and --depth is honoured.
  return { url: pathToFileURL(real).href, protocol: 'file' };
}

async function isReady(layout: WorkspaceLayout, fingerprint: string): Promise<boolean> {
  const checkout = await lstat(layout.dir).catch(() => null);
  if (!checkout?.isDirectory()) return false;
  const marker = await readFile(layout.readyMarker, 'utf8').catch(() => null);
  if (!marker) return false;
  try {
    return (JSON.parse(marker) as { fingerprint?: string }).fingerprint === fingerprint;
  } catch {
    return false;
  }
}

function fingerprintOf(spec: WorkspaceRequest): string {
  const { repo, ref, branch, setup } = spec;
  return createHash('sha256').update(JSON.stringify({ repo, ref, branch, setup })).digest('hex');
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new WorkspaceAborted('preparation was stopped');
}

function displayUrl(remote: GitRemote): string {
  return remote.protocol === 'file' ? decodeURIComponent(new URL(remote.url).pathname) : remote.url;
}

function shorten(line: string, max = 120): string {
  const flat = line.replace(/\s+/g, ' ').trim();
  return truncate(sanitize(flat), max, '…');
}
