import { bootstrap, onShutdown } from '../bootstrap';
import type { Connection } from '@temporalio/client';
import { connectClient, waitForNamespace } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { bundleWorkflowCode } from '@temporalio/worker';
import { createRunwayWorker, WORKFLOWS_PATH } from '../worker/create-worker';
import { bundlerLogger, installRuntimeLogger } from '../temporal/runtime-logger';
import type { Logger } from '../logger';
import { startMetricsServer } from '../metrics/metrics-server';
import { startTracing } from '../telemetry';
import { resource, startServices, type Service } from '../services';

async function main() {
  const { config, secrets, logger, pool, db } = await bootstrap('worker');
  installRuntimeLogger(logger);
  const tracing = await startTracing('runway-worker', logger);
  await waitForNamespace(config.temporal.address, config.temporal.namespace);
  const client = await connectClient(config.temporal.address, config.temporal.namespace, tracing?.clientInterceptors);
  await ensureSearchAttributes(client.connection as Connection, config.temporal.namespace);
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: tracing?.worker.workflowModules,
    logger: bundlerLogger(logger, config.logBundler),
  });
  const { worker, connection } = await createRunwayWorker({ config, db, client, logger, secretsKey: secrets.secretsKey, tracing: tracing?.worker, workflowBundle: { code } });
  let running: Promise<void> = Promise.resolve();
  // Started in this order, stopped in the reverse one: the worker drains its tasks, then the connections close.
  const services: Service[] = [
    resource('tracing', async () => tracing?.shutdown()), // the process exits next: export what is buffered
    resource('database pool', () => pool.end()),
    resource('Temporal client', () => client.connection.close()),
    resource('Temporal worker connection', () => connection.close()),
    metricsService(config.metrics.workerPort, config.metrics.token, logger),
    {
      name: 'worker',
      start: () => {
        running = worker.run();
        logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace }, 'worker running');
      },
      // Running activities finish within the grace time.
      stop: async () => {
        worker.shutdown();
        await running.catch((err: unknown) => logger.error({ err }, 'worker stopped with an error'));
      },
    },
  ];
  const started = await startServices(services, logger);
  // However the worker stops (a signal here, or the SDK's own shutdown signals), the services stop once.
  onShutdown(logger, () => started.stop());
  const failed = await running.then(() => false, () => true); // the error is logged by the worker's stop
  await started.stop();
  process.exit(failed ? 1 : 0);
}

/** The worker's `/metrics` on its own port (0: none). */
function metricsService(port: number, token: string | undefined, logger: Logger): Service {
  let server: Awaited<ReturnType<typeof serveMetrics>>;
  return {
    name: 'metrics server',
    start: async () => {
      if (port > 0) server = await serveMetrics(port, token, logger);
    },
    stop: async () => server?.close(),
  };
}

/** A port already taken (another worker on this host) costs the metrics, not the worker. */
async function serveMetrics(port: number, token: string | undefined, logger: Logger) {
  try {
    const server = await startMetricsServer(port, token, logger);
    logger.info({ port: server.port }, `worker metrics on port ${server.port} (all interfaces), path /metrics`);
    return server;
  } catch (err) {
    logger.error({ err, port }, 'worker metrics not served (set RUNWAY_WORKER_METRICS_PORT to a free port, or 0 for none)');
    return undefined;
  }
}

void main();
