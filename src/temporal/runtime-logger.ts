import type { Logger as SdkLogger, LogLevel, LogMetadata } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import type { Logger } from '../logger';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The Temporal SDK's logger interface over a pino logger: one format (JSON or pretty) for everything. */
export function sdkLoggerFor(logger: Logger): SdkLogger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => logger[LEVELS[level]](meta ?? {}, message);
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/** Installs the SDK runtime with the process's logger (workflow, activity and core logs go through pino). */
export function installRuntimeLogger(logger: Logger): void {
  Runtime.install({ logger: sdkLoggerFor(logger.child({ component: 'temporal' })) });
}

/** The bundler's webpack report only when asked for (RUNWAY_LOG_BUNDLER); its errors always. */
export function bundlerLogger(logger: Logger, verbose: boolean): SdkLogger {
  const sdk = sdkLoggerFor(logger.child({ component: 'bundler' }));
  if (verbose) return sdk;
  const quiet = () => undefined;
  return { log: (level, message, meta) => (level === 'ERROR' || level === 'WARN' ? sdk.log(level, message, meta) : undefined), trace: quiet, debug: quiet, info: quiet, warn: sdk.warn, error: sdk.error };
}

/** For tools without a pino logger (test setup, scripts): the SDK's errors on stderr, nothing else. */
export const errorsOnlySdkLogger: SdkLogger = {
  log: (level, message) => (level === 'ERROR' ? process.stderr.write(`${message}\n`) : undefined),
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message) => process.stderr.write(`${message}\n`),
};
