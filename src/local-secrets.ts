import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Config } from './config';

function readOrCreate(file: string, make: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(path.dirname(file), { recursive: true });
  const value = make();
  try {
    writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
    return value;
  } catch {
    return readFileSync(file, 'utf8').trim(); // another process wrote it first
  }
}

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
    config.adminToken ?? readOrCreate(path.join(config.dataDir, 'admin-token'), () => randomBytes(24).toString('base64url'));
  const secretsKey =
    config.secretsKey ??
    Buffer.from(readOrCreate(path.join(config.dataDir, 'secrets.key'), () => randomBytes(32).toString('base64')), 'base64');
  return { adminToken, secretsKey };
}
