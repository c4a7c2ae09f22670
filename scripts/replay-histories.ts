import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { resources, type tracing } from '@opentelemetry/sdk-node';
import { bundleWorkflowCode, Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../src/worker/create-worker';
import { TRACING_WORKFLOW_MODULES, workerTracing } from '../src/telemetry/temporal';
import { errorsOnlySdkLogger } from '../src/temporal/runtime-logger';

/**
 * Replays every history JSON in a folder against the current workflow code and prints one JSON
 * line of results; exits 1 when any replay hits non-determinism. Runs outside jest because the
 * SDK's protobuf JSON decoding does not survive jest's module registry.
 *   npx tsx scripts/replay-histories.ts test/fixtures/histories [bundle.js] [--traced]
 * With --traced the workflows are bundled with the tracing interceptors and replayed twice: with
 * the platform's span sink (which must export nothing during replay), and with the same sink
 * forced to run during replay (which shows the spans the sandbox does make then).
 */
type History = { workflowId: string; history: unknown };
type Result = { workflowId: string; error: string | null };

async function replayAll(source: ReplayWorkerOptions, histories: History[]): Promise<Result[]> {
  const results: Result[] = [];
  for await (const result of Worker.runReplayHistories(source, histories)) {
    results.push({ workflowId: result.workflowId, error: result.error ? String(result.error) : null });
  }
  return results;
}

/** A span processor that only keeps what it is given. */
function collecting(): { processor: tracing.SpanProcessor; spans: tracing.ReadableSpan[] } {
  const spans: tracing.ReadableSpan[] = [];
  const processor = { onStart: () => undefined, onEnd: (s: tracing.ReadableSpan) => void spans.push(s), forceFlush: async () => undefined, shutdown: async () => undefined };
  return { processor, spans };
}

async function replayTraced(histories: History[]) {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: TRACING_WORKFLOW_MODULES, logger: errorsOnlySdkLogger });
  const resource = new resources.Resource({ 'service.name': 'replay' });
  const real = collecting();
  const { interceptors, sinks } = workerTracing(real.processor, resource);
  const results = await replayAll({ workflowBundle: { code }, interceptors, sinks }, histories);
  const forced = collecting();
  const forcedSink = workerTracing(forced.processor, resource).sinks.exporter as { export: { fn: (...args: never[]) => void } };
  await replayAll({ workflowBundle: { code }, interceptors, sinks: { exporter: { export: { ...forcedSink.export, callDuringReplay: true } } } }, histories);
  const names = [...new Set(forced.spans.map((s) => s.name))].sort();
  const attributeKeys = [...new Set(forced.spans.flatMap((s) => Object.keys(s.attributes)))].sort();
  return { results, tracing: { exportedDuringReplay: real.spans.length, madeDuringReplay: forced.spans.length, names, attributeKeys } };
}

async function main() {
  const args = process.argv.slice(2);
  const [dir = 'test/fixtures/histories', bundlePath] = args.filter((a) => !a.startsWith('--'));
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  const histories = files.map((f) => ({
    workflowId: path.basename(f, '.json'),
    history: JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as unknown,
  }));
  const source = bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath: WORKFLOWS_PATH };
  const { results, tracing } = args.includes('--traced') ? await replayTraced(histories) : { results: await replayAll(source, histories), tracing: undefined };
  process.stdout.write(`${JSON.stringify({ replayed: results.length, results, tracing })}\n`);
  process.exitCode = results.some((r) => r.error) ? 1 : 0;
}

void main();
