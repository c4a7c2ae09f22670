import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

export type Db = Kysely<Database>;

// Credits are bigint in PostgreSQL and integers well below 2^53 here: read them as numbers.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export function createPool(databaseUrl: string, max = 10): pg.Pool {
  // A database that does not answer fails a connection after 5 s instead of holding the request
  // (the API answers 503 database-unavailable); keep-alive notices a connection cut silently.
  const pool = new pg.Pool({ connectionString: databaseUrl, max, types, connectionTimeoutMillis: 5000, keepAlive: true });
  // An idle client killed by the server (a restart, a terminated backend) is dropped by the pool;
  // without a listener its 'error' event would crash the process.
  pool.on('error', () => undefined);
  // A client checked out when its connection dies (a transaction waiting between statements)
  // emits 'error' too, where the pool does not listen: unheard, that crashes the process. Its
  // caller learns of it from the statement that fails next; the pool then discards the client.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

export function createDb(pool: pg.Pool): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Resolves once the database answers a statement; rejects with the driver's error otherwise. */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(db);
}

/** Creates the database named in the URL when it does not exist yet (local default). */
export async function ensureDatabaseExists(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return;
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } catch (err) {
        // Another process created it in the meantime.
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } finally {
    await client.end();
  }
}
