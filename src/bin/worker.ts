import { bootstrap, onShutdown } from '../bootstrap';
import type { Connection } from '@temporalio/client';
import { connectClient, waitForNamespace } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { createRunwayWorker } from '../worker/create-worker';
import { startTracing } from '../telemetry';

async function main() {
  const { config, secrets, logger, pool, db } = await bootstrap('worker');
  const tracing = await startTracing('runway-worker', logger);
  await waitForNamespace(config.temporal.address, config.temporal.namespace);
  const client = await connectClient(config.temporal.address, config.temporal.namespace, tracing?.clientInterceptors);
  await ensureSearchAttributes(client.connection as Connection, config.temporal.namespace);
  const { worker, connection } = await createRunwayWorker({ config, db, client, logger, secretsKey: secrets.secretsKey, tracing: tracing?.worker });
  onShutdown(logger, async () => {
    worker.shutdown();
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

void main();
