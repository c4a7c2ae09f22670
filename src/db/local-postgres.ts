import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { SYSTEM_DATABASE_URL, type Config } from '../config';
import { answers, runningEmbeddedPostgres, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';

const run = promisify(execFile);

/** Whether the server of `databaseUrl` answers (on its `postgres` database: ours may not exist yet). */
function reachable(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  return answers(url.toString());
}

/**
 * `npm start` on a fresh Debian machine: when the database is the local default and the cluster
 * is installed but stopped, start it (as CI does) rather than failing.
 */
export async function startLocalPostgresIfDown(databaseUrl: string, log: (msg: string) => void): Promise<void> {
  const host = new URL(databaseUrl).hostname;
  if (!['127.0.0.1', 'localhost', '::1'].includes(host) || (await reachable(databaseUrl))) return;
  let versions: string[];
  try {
    versions = readdirSync('/etc/postgresql');
  } catch {
    return; // not a Debian-packaged PostgreSQL: nothing we can start
  }
  const version = versions.sort().pop();
  if (!version) return;
  log(`PostgreSQL is not answering on ${host}; starting the local ${version} cluster`);
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']).catch((err: Error) =>
    log(`could not start PostgreSQL: ${err.message}`),
  );
  for (let i = 0; i < 30 && !(await reachable(databaseUrl)); i++) await new Promise((r) => setTimeout(r, 1000));
}

export interface ResolvedDatabase {
  url: string;
  /** The embedded server this process started (to stop last), if any. */
  embedded?: EmbeddedPostgres;
}

/**
 * Which PostgreSQL to use. DATABASE_URL wins, then the machine's own on 127.0.0.1:5432 (started
 * first if it is a stopped Debian cluster), then an embedded server under the data folder: the
 * one already running, or — when `mayStart` (npm start, the test suite) — a new one.
 */
export async function resolveDatabase(config: Config, log: (msg: string) => void, mayStart: boolean): Promise<ResolvedDatabase> {
  const source = config.databaseSource;
  if (source === 'url' || source === 'system') {
    if (mayStart) await startLocalPostgresIfDown(config.databaseUrl, log);
    return { url: config.databaseUrl };
  }
  if (source === 'auto') {
    if (await reachable(SYSTEM_DATABASE_URL)) return { url: SYSTEM_DATABASE_URL };
    if (mayStart) {
      await startLocalPostgresIfDown(SYSTEM_DATABASE_URL, log);
      if (await reachable(SYSTEM_DATABASE_URL)) return { url: SYSTEM_DATABASE_URL };
    }
  }
  const running = await runningEmbeddedPostgres(config.dataDir);
  if (running) return { url: running };
  if (!mayStart) return { url: SYSTEM_DATABASE_URL }; // bootstrap says that nothing answers there
  const embedded = await startEmbeddedPostgres(config.dataDir, log);
  return { url: embedded.url, embedded };
}
