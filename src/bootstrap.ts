import type pg from 'pg';
import { ConfigError, loadConfig, type Config } from './config';
import { createDb, createPool, ensureDatabaseExists, type Db } from './db/database';
import { migrateToLatest } from './db/migrate';
import { resolvePlatformSecrets, type PlatformSecrets } from './local-secrets';
import { createLogger, type Logger } from './logger';

export interface Platform {
  config: Config;
  secrets: PlatformSecrets;
  logger: Logger;
  pool: pg.Pool;
  db: Db;
}

/**
 * Shared start-up of every process: validated config, the database (created when missing) with
 * every migration applied under an advisory lock. Exits with a clear message when it cannot.
 */
export async function bootstrap(name: string): Promise<Platform> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger(name, config.logLevel);
  const secrets = resolvePlatformSecrets(config);
  const safeUrl = config.databaseUrl.replace(/\/\/[^@/]*@/, '//***@');
  try {
    await ensureDatabaseExists(config.databaseUrl);
  } catch (err) {
    logger.fatal({ err }, `cannot reach PostgreSQL at ${safeUrl}: is it running? (set DATABASE_URL)`);
    process.exit(1);
  }
  const pool = createPool(config.databaseUrl);
  const db = createDb(pool);
  try {
    const applied = await migrateToLatest(db);
    if (applied.length) logger.info({ applied }, 'migrations applied');
  } catch (err) {
    logger.fatal({ err }, 'database migrations failed; refusing to start');
    process.exit(1);
  }
  return { config, secrets, logger, pool, db };
}

/** Runs `stop` once on SIGINT/SIGTERM, then exits; a second signal exits at once. */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
