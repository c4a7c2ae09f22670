import type { tracing } from '@opentelemetry/sdk-node';
import type { resources } from '@opentelemetry/sdk-node';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetrySinks,
} from '@temporalio/interceptors-opentelemetry';
import type { ClientInterceptors } from '@temporalio/client';
import type { InjectedSinks } from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import type { WorkerTracing } from './index';

/**
 * The SDK's workflow interceptors (RunWorkflow, StartActivity, HandleSignal… spans made inside
 * the workflow sandbox), as its OpenTelemetryPlugin registers them. They only add headers and
 * spans, never commands: histories replay the same with or without them.
 */
export const TRACING_WORKFLOW_MODULES = [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')];

export function clientInterceptors(): ClientInterceptors {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}

/**
 * The workflow info the SDK's sink copies onto every workflow span. It would copy all of it,
 * memo (a run's memo holds the start of its prompt) and search attributes included: only these
 * identifying fields go.
 */
function traceableInfo(info: WorkflowInfo): WorkflowInfo {
  const { workflowId, runId, workflowType, taskQueue, namespace, attempt } = info;
  return { workflowId, runId, workflowType, taskQueue, namespace, attempt } as WorkflowInfo;
}

/**
 * Spans made in the workflow sandbox leave it through this sink, into the process's span
 * processor. Not called while a workflow replays (`callDuringReplay: false`): a workflow
 * rebuilt from its history (a restarted worker, a cache eviction, a query on a closed run)
 * re-creates its spans with the same ids but does not export them again.
 */
function workflowSinks(processor: tracing.SpanProcessor, resource: resources.Resource): InjectedSinks<OpenTelemetrySinks> {
  const sdkSink = makeWorkflowExporter(processor, resource);
  return {
    exporter: {
      export: {
        fn: (info, spans) => sdkSink.export.fn(traceableInfo(info), spans),
        callDuringReplay: false,
      },
    },
  };
}

export function workerTracing(processor: tracing.SpanProcessor, resource: resources.Resource): WorkerTracing {
  return {
    interceptors: {
      // An activity's span is the child of the workflow's StartActivity span (from its headers);
      // the outbound interceptor adds trace ids to the SDK's activity log lines.
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
      workflowModules: TRACING_WORKFLOW_MODULES,
    },
    sinks: workflowSinks(processor, resource),
    workflowModules: TRACING_WORKFLOW_MODULES,
  };
}
