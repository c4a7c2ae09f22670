import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db } from '../../src/db/database';

const IDENTITY = ['-c', 'user.name=Runway Test', '-c', 'user.email=test@runway.dev', '-c', 'init.defaultBranch=main'];

/** Runs real git for a test (fixtures only: the platform's own git calls are hardened). */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', [...IDENTITY, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export interface FixtureRepo {
  /** Absolute path of the bare repository. */
  path: string;
  /** Commit ids: `first` is main~1, `main` is main's head, `dev` is dev's head (tagged v1). */
  commits: { first: string; main: string; dev: string };
}

/**
 * A bare repository with two commits on `main` (README.md, then app.txt), a `dev` branch adding
 * dev.txt, and a tag `v1` on dev.
 */
export function createFixtureRepo(dir: string, name = 'app.git'): FixtureRepo {
  mkdirSync(dir, { recursive: true });
  const bare = path.join(dir, name);
  git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  const work = mkdtempSync(path.join(os.tmpdir(), 'runway-fixture-'));
  git(work, 'init', '--quiet', '--initial-branch=main');
  writeFileSync(path.join(work, 'README.md'), '# fixture\n');
  git(work, 'add', '.');
  git(work, 'commit', '--quiet', '-m', 'first');
  const first = git(work, 'rev-parse', 'HEAD');
  writeFileSync(path.join(work, 'app.txt'), 'app\n');
  git(work, 'add', '.');
  git(work, 'commit', '--quiet', '-m', 'second');
  const main = git(work, 'rev-parse', 'HEAD');
  git(work, 'checkout', '--quiet', '-b', 'dev');
  writeFileSync(path.join(work, 'dev.txt'), 'dev\n');
  git(work, 'add', '.');
  git(work, 'commit', '--quiet', '-m', 'dev work');
  const dev = git(work, 'rev-parse', 'HEAD');
  git(work, 'tag', 'v1');
  git(work, 'push', '--quiet', bare, 'main', 'dev', 'v1');
  rmSync(work, { recursive: true, force: true });
  return { path: bare, commits: { first, main, dev } };
}

/**
 * A bare repository whose one commit holds `mb` MiB of random bytes, stored uncompressed so it
 * is quick to make, yet slow enough to clone that a test can kill a worker in the middle.
 */
export function createBigRepo(dir: string, mb: number, name = 'big.git'): string {
  mkdirSync(dir, { recursive: true });
  const bare = path.join(dir, name);
  git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  git(bare, 'config', 'core.compression', '0');
  git(bare, 'config', 'pack.compression', '0');
  const blobFile = path.join(dir, `${name}.bin`);
  writeFileSync(blobFile, randomBytes(mb * 1024 * 1024));
  const blob = git(bare, 'hash-object', '-w', blobFile);
  rmSync(blobFile);
  const tree = execFileSync('git', ['mktree'], { cwd: bare, input: `100644 blob ${blob}\tbig.bin\n`, encoding: 'utf8' }).trim();
  const commit = git(bare, 'commit-tree', '-m', 'big', tree);
  git(bare, 'update-ref', 'refs/heads/main', commit);
  return bare;
}

/** Persisted events of a run, oldest first. */
export async function runEvents(db: Db, runId: string, type?: string): Promise<{ type: string; data: Record<string, unknown> }[]> {
  let q = db.selectFrom('run_events').select(['type', 'data']).where('run_id', '=', runId);
  if (type) q = q.where('type', '=', type);
  const rows = await q.orderBy('id').execute();
  return rows.map((r) => ({ type: r.type, data: r.data as Record<string, unknown> }));
}

/** Host pids whose command line contains `marker` (the test's own processes excluded). */
export function pidsWith(marker: string, where: 'anywhere' | 'start' = 'anywhere'): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (where === 'start' ? cmdline.startsWith(marker) : cmdline.includes(marker)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}
