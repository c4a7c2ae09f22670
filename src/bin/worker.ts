import { bootstrap, onShutdown } from '../bootstrap';
import type { Connection } from '@temporalio/client';
import { connectClient, waitForNamespace } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { createRunwayWorker } from '../worker/create-worker';

async function main() {
  const { config, secrets, logger, pool, db } = await bootstrap('worker');
  await waitForNamespace(config.temporal.address, config.temporal.namespace);
  const client = await connectClient(config.temporal.address, config.temporal.namespace);
  await ensureSearchAttributes(client.connection as Connection, config.temporal.namespace);
  const { worker, connection } = await createRunwayWorker({ config, db, client, logger, secretsKey: secrets.secretsKey });
  onShutdown(logger, async () => {
    worker.shutdown();
  });
  logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace }, 'worker running');
  await worker.run();
  await connection.close();
  await client.connection.close();
  await pool.end();
  process.exit(0);
}

void main();
