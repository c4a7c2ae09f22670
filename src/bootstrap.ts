import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { ConfigError, loadConfig, type Config } from './config';
import { createDb, createPool, ensureDatabaseExists, type Db } from './db/database';
import { migrateToLatest } from './db/migrate';
import { createLogger, type Logger } from './logger';

export interface PlatformSecrets {
  adminToken: string;
  secretsKey: Buffer;
}

/**
 * The value in `file`, or a new one written there. The new value goes to a temporary file of
 * the same folder (mode 600, synced) that is then hard-linked into place: the link appears with
 * its whole content, and fails when the file already exists. So processes starting together all
 * end up with the first one's value, none ever reads an empty or partial file, and an existing
 * file is never replaced (which would change a key other processes already use).
 */
export function readOrCreateSecretFile(file: string, make: () => string, valid: (value: string) => boolean): string {
  const read = () => {
    const value = readFileSync(file, 'utf8').trim();
    if (!valid(value)) throw new ConfigError(`Invalid configuration:\n  ${file} does not hold a valid value; remove it to generate a new one`);
    return value;
  };
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const value = make();
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${value}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
    return value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return read(); // another process linked its value first: use that one
  } finally {
    unlinkSync(temp);
  }
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
