import { bootstrap, onShutdown } from '../bootstrap';
import type { Connection } from '@temporalio/client';
import { connectClient, waitForNamespace } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { createRunwayWorker } from '../worker/create-worker';
import type { Logger } from '../logger';
import { startMetricsServer } from '../metrics/metrics-server';
import { startTracing } from '../telemetry';

async function main() {
  const { config, secrets, logger, pool, db } = await bootstrap('worker');
  const tracing = await startTracing('runway-worker', logger);
  await waitForNamespace(config.temporal.address, config.temporal.namespace);
  const client = await connectClient(config.temporal.address, config.temporal.namespace, tracing?.clientInterceptors);
  await ensureSearchAttributes(client.connection as Connection, config.temporal.namespace);
  const { worker, connection } = await createRunwayWorker({ config, db, client, logger, secretsKey: secrets.secretsKey, tracing: tracing?.worker });
  const metricsServer = config.metrics.workerPort > 0 ? await serveMetrics(config.metrics.workerPort, config.metrics.token, logger) : undefined;
  onShutdown(logger, async () => {
    worker.shutdown();
    await metricsServer?.close();
    await tracing?.shutdown(); // the process exits next: export what is buffered
  });
  logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace }, 'worker running');
  await worker.run();
  await connection.close();
  await client.connection.close();
  await pool.end();
  await tracing?.shutdown();
  process.exit(0);
}

/** A port already taken (another worker on this host) costs the metrics, not the worker. */
async function serveMetrics(port: number, token: string | undefined, logger: Logger) {
  try {
    const server = await startMetricsServer(port, token, logger);
    logger.info({ port: server.port }, `worker metrics on http://127.0.0.1:${server.port}/metrics`);
    return server;
  } catch (err) {
    logger.error({ err, port }, 'worker metrics not served (set RUNWAY_WORKER_METRICS_PORT to a free port, or 0 for none)');
    return undefined;
  }
}

void main();
