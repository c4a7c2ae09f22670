/**
 * Tracing (OpenTelemetry), on only when an OTLP endpoint is configured. This file is all that
 * loads when it is off: the SDK, the exporter and the Temporal interceptors are imported on
 * demand, so an untraced process pays nothing for them.
 */
import type { ClientInterceptors } from '@temporalio/client';
import type { WorkerInterceptors, WorkerOptions } from '@temporalio/worker';
import type { Middleware } from 'koa';
import type { Logger } from '../logger';

/** What a worker adds to its options to trace workflows and activities. */
export interface WorkerTracing {
  interceptors: WorkerInterceptors;
  /** The workflow span exporter (not called during replay). */
  sinks: NonNullable<WorkerOptions['sinks']>;
  /** The workflow interceptor modules, which a workflow bundle must contain. */
  workflowModules: string[];
}

export interface Tracing {
  /** For every Temporal client of the process: a workflow start carries the caller's trace in its headers. */
  clientInterceptors: ClientInterceptors;
  /** Koa middleware: one server span per request, named by its route. */
  requestSpans: Middleware;
  worker: WorkerTracing;
  /** Exports what is buffered and stops; safe to call more than once. */
  shutdown(): Promise<void>;
}

/** The OTLP endpoint that turns tracing on (the standard variables), if any. */
export function tracingEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || undefined;
}

/**
 * Starts tracing for this process when an OTLP endpoint is set; undefined (and nothing loaded)
 * otherwise. `serviceName` is the default `service.name`; OTEL_SERVICE_NAME overrides it.
 */
export async function startTracing(serviceName: string, logger: Logger): Promise<Tracing | undefined> {
  const env = process.env; // the SDK reads its own settings (OTEL_*) from here too
  const endpoint = tracingEndpoint(env);
  if (!endpoint) return undefined;
  const { startSdk } = await import('./sdk');
  const tracing = startSdk(serviceName, logger);
  // The origin only: an endpoint URL may carry credentials in its user info or query.
  logger.info({ endpoint: originOf(endpoint), serviceName: env.OTEL_SERVICE_NAME || serviceName }, 'tracing on: spans go to the OTLP endpoint (http/json)');
  return tracing;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(not a URL)';
  }
}
