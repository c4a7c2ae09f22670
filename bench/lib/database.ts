import pg from 'pg';
import { createDb, createPool, ensureDatabaseExists, type Db } from '../../src/db/database';
import { migrateToLatest } from '../../src/db/migrate';

export interface BenchDatabase {
  url: string;
  db: Db;
  pool: pg.Pool;
  /** Closes the bench's own pool and drops the database (forcing out any leftover session). */
  drop(): Promise<void>;
}

/**
 * A fresh database for one bench run, migrated before any process starts (as
 * test/global-setup.ts does), on the server `BENCH_DATABASE_BASE` (or the tests'
 * `RUNWAY_TEST_DATABASE_BASE`) names.
 */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const base = process.env.BENCH_DATABASE_BASE ?? process.env.RUNWAY_TEST_DATABASE_BASE ?? 'postgres://postgres@127.0.0.1:5432';
  const url = `${base}/runway_bench_${Date.now()}_${process.pid}`;
  await ensureDatabaseExists(url);
  const pool = createPool(url, 8);
  // An idle connection reports the database being dropped at the end; never a reason to crash.
  pool.on('error', (err) => process.stderr.write(`[bench] database pool: ${err.message}\n`));
  const db = createDb(pool);
  try {
    await migrateToLatest(db);
  } catch (err) {
    await pool.end();
    await dropDatabase(url);
    throw err;
  }
  return {
    url,
    db,
    pool,
    async drop() {
      await pool.end().catch(() => undefined);
      await dropDatabase(url);
    },
  };
}

async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
