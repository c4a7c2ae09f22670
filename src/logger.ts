import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Secret-bearing fields wherever they sit, up to two levels down (pino has no deep wildcard).
 * Bracket notation, since header names have dashes.
 */
const SECRET_FIELDS = ['secrets', 'apiKey', 'authorization', 'x-api-key', 'secretsKey', 'adminToken', 'RUNWAY_RUN_API_KEY', 'access_token', 'publicAccessToken'];
const REDACTED_PATHS = SECRET_FIELDS.flatMap((f) => [`["${f}"]`, `*["${f}"]`, `*.*["${f}"]`]);

/**
 * RUNWAY_LOG_FORMAT: `pretty` (readable lines, pino-pretty), `json` (one JSON object a line), or
 * `auto` (the default): pretty on a terminal outside production, JSON otherwise.
 */
export function prettyLogs(env: NodeJS.ProcessEnv = process.env, isTTY = Boolean(process.stdout.isTTY)): boolean {
  const format = env.RUNWAY_LOG_FORMAT ?? 'auto';
  if (format === 'pretty' || format === 'json') return format === 'pretty';
  return isTTY && env.NODE_ENV !== 'production';
}

/**
 * JSON logs in production and when piped, readable lines on a terminal (prettyLogs). Secrets
 * never reach a log line: known secret-bearing fields are redacted wherever they appear.
 */
export function createLogger(name: string, level: string): Logger {
  const pretty = prettyLogs();
  return pino({
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  });
}
