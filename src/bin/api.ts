import { createApp } from '../api/app';
import { bootstrap, onShutdown } from '../bootstrap';
import { PriceBook } from '../pricing';
import { RunEventHub } from '../streams/run-event-hub';
import { createProviderRegistry } from '../providers/create-registry';
import type { Connection } from '@temporalio/client';
import { connectClient, waitForNamespace } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/search-attributes';

async function main() {
  const { config, secrets, logger, pool, db } = await bootstrap('api');
  await waitForNamespace(config.temporal.address, config.temporal.namespace);
  const temporal = await connectClient(config.temporal.address, config.temporal.namespace);
  await ensureSearchAttributes(temporal.connection as Connection, config.temporal.namespace);
  const events = new RunEventHub({ db, databaseUrl: config.databaseUrl, logger });
  const app = createApp({
    config,
    db,
    temporal,
    logger,
    prices: new PriceBook(config.prices),
    providers: createProviderRegistry(config),
    secretsKey: secrets.secretsKey,
    adminToken: secrets.adminToken,
    events,
  });
  const server = app.listen(config.port, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    logger.info({ port }, `API listening on http://127.0.0.1:${port}`);
  });
  server.requestTimeout = 0; // event streams stay open for as long as a run lasts
  onShutdown(logger, async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // SSE clients reconnect with Last-Event-ID elsewhere
    });
    await events.close();
    await temporal.connection.close();
    await pool.end();
  });
}

void main();
