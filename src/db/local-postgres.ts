import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

async function reachable(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined); // a probe: its answer is already decided above
  }
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
