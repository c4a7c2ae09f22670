import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type pg from 'pg';
import { ConfigError, loadConfig, type Config } from './config';
import { createDb, createPool, ensureDatabaseExists, type Db } from './db/database';
import type { EmbeddedPostgres } from './db/embedded-postgres';
import { resolveDatabase } from './db/local-postgres';
import { migrateToLatest } from './db/migrate';
import { readOrCreateSecretFile } from './secrets/secret-file';
import { createLogger, type Logger } from './logger';

export interface PlatformSecrets {
  adminToken: string;
  secretsKey: Buffer;
}

/**
 * The admin token and the key that seals per-run secrets. Production must set both; for local
 * use they are generated once into the data folder (mode 600) and shared by every process.
 */
export function resolvePlatformSecrets(config: Config): PlatformSecrets {
  if (config.env === 'production' && (!config.adminToken || !config.secretsKey)) {
    throw new ConfigError('Invalid configuration:\n  RUNWAY_ADMIN_TOKEN and RUNWAY_SECRETS_KEY are required in production');
  }
  const adminToken =
    config.adminToken ??
    readOrCreateSecretFile(path.join(config.dataDir, 'admin-token'), () => randomBytes(24).toString('base64url'), (v) => v.length >= 16);
  const secretsKey =
    config.secretsKey ??
    Buffer.from(
      readOrCreateSecretFile(
        path.join(config.dataDir, 'secrets.key'),
        () => randomBytes(32).toString('base64'),
        (v) => Buffer.from(v, 'base64').length === 32,
      ),
      'base64',
    );
  return { adminToken, secretsKey };
}

export interface Platform {
  /** `databaseUrl` is the database decided on (see resolveDatabase). */
  config: Config;
  secrets: PlatformSecrets;
  logger: Logger;
  pool: pg.Pool;
  db: Db;
  /** The embedded PostgreSQL this process started, which it must stop last. */
  embeddedDatabase?: EmbeddedPostgres;
}

/**
 * Shared start-up of every process: validated config, the database (created when missing) with
 * every migration applied under an advisory lock. Exits with a clear message when it cannot.
 */
export async function bootstrap(name: string, options: { mayStartDatabase?: boolean } = {}): Promise<Platform> {
  let config: Config;
  let secrets: PlatformSecrets;
  try {
    config = loadConfig();
    secrets = resolvePlatformSecrets(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger(name, config.logLevel);
  let embeddedDatabase: EmbeddedPostgres | undefined;
  try {
    const database = await resolveDatabase(config, (msg) => logger.info(msg), options.mayStartDatabase ?? false);
    config = { ...config, databaseUrl: database.url };
    embeddedDatabase = database.embedded;
  } catch (err) {
    logger.fatal({ err }, 'could not start the embedded PostgreSQL');
    process.exit(1);
  }
  const safeUrl = config.databaseUrl.replace(/\/\/[^@/]*@/, '//***@');
  try {
    await ensureDatabaseExists(config.databaseUrl);
  } catch (err) {
    logger.fatal({ err }, `cannot reach PostgreSQL at ${safeUrl}: is it running? (set DATABASE_URL, or run npm start, which starts an embedded one)`);
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
  return { config, secrets, logger, pool, db, embeddedDatabase };
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
