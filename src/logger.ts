import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Secret-bearing fields wherever they sit, up to two levels down (pino has no deep wildcard).
 * Bracket notation, since header names have dashes.
 */
const SECRET_FIELDS = ['secrets', 'apiKey', 'authorization', 'x-api-key', 'secretsKey', 'adminToken', 'RUNWAY_RUN_API_KEY', 'access_token', 'publicAccessToken'];
const REDACTED_PATHS = SECRET_FIELDS.flatMap((f) => [`["${f}"]`, `*["${f}"]`, `*.*["${f}"]`]);

/**
 * JSON logs in production, readable lines on a terminal. Secrets never reach a log line: known
 * secret-bearing fields are redacted wherever they appear.
 */
export function createLogger(name: string, level: string): Logger {
  const pretty = process.stdout.isTTY && process.env.NODE_ENV !== 'production';
  return pino({
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  });
}
