import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK, resources, tracing } from '@opentelemetry/sdk-node';
import type { Logger } from '../logger';
import type { Tracing } from './index';
import { RedactingSpanProcessor } from './redact';
import { requestSpans } from './request-spans';
import { clientInterceptors, workerTracing } from './temporal';

/** OpenTelemetry's own complaints (a collector that does not answer, dropped spans) go to the process log. */
function diagLogger(logger: Logger): DiagLogger {
  const log = (level: 'error' | 'warn' | 'info' | 'debug') => (message: string, ...args: unknown[]) =>
    logger[level]({ otel: args.length ? args.map(String) : undefined }, `opentelemetry: ${message}`);
  return { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), verbose: log('debug') };
}

/**
 * `service.name` defaults to the process's own; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
 * (the standard environment detector) take precedence. One resource, shared by the spans made
 * in this process and those the workflow sandbox hands over.
 */
function resourceFor(serviceName: string): resources.Resource {
  return new resources.Resource({
    ...resources.Resource.default().attributes,
    'service.name': serviceName,
    ...resources.envDetectorSync.detect().attributes,
  });
}

/**
 * The NodeSDK with traces only: an OTLP http/json exporter (endpoint, headers and timeout from the
 * standard OTEL_EXPORTER_OTLP_* variables) behind a batch processor (OTEL_BSP_*), every span
 * scrubbed of credentials first. No instrumentation patches any module: the API makes its
 * request spans itself (request-spans.ts), so start-up order does not matter. Metrics are not
 * exported from here (OTEL_METRICS_EXPORTER unset means none), nor logs.
 */
export function startSdk(serviceName: string, logger: Logger): Tracing {
  diag.setLogger(diagLogger(logger), DiagLogLevel.WARN);
  const resource = resourceFor(serviceName);
  const processor = new RedactingSpanProcessor(new tracing.BatchSpanProcessor(new OTLPTraceExporter()));
  const sdk = new NodeSDK({ resource, autoDetectResources: false, spanProcessors: [processor], logRecordProcessors: [], instrumentations: [] });
  sdk.start();
  let stopped: Promise<void> | undefined;
  return {
    clientInterceptors: clientInterceptors(),
    requestSpans: requestSpans(),
    worker: workerTracing(processor, resource),
    shutdown: () =>
      (stopped ??= sdk.shutdown().catch((err: unknown) => logger.warn({ err }, 'tracing: spans not flushed at shutdown'))),
  };
}
