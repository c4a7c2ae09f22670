import { createApp } from '../api/app';
import { apiDepsFor } from '../api/deps';
import { answerClientErrorsWithProblems, limitRequestArrival } from '../api/client-errors';
import { bootstrap, onShutdown } from '../bootstrap';
import type { Connection } from '@temporalio/client';
import { lazyClient, waitForNamespace } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { startTracing } from '../telemetry';

async function main() {
  const { config, secrets, logger, pool, db } = await bootstrap('api');
  const tracing = await startTracing('runway-api', logger);
  // Admission needs PostgreSQL only: an API started while Temporal is down accepts runs, which
  // start (from the outbox) once Temporal answers.
  const temporal = lazyClient(config.temporal.address, config.temporal.namespace, tracing?.clientInterceptors);
  try {
    await waitForNamespace(config.temporal.address, config.temporal.namespace, 10_000);
    await ensureSearchAttributes(temporal.connection as Connection, config.temporal.namespace);
  } catch (err) {
    logger.warn({ err }, 'Temporal is not reachable: runs are admitted and start once it answers (the worker registers the search attributes)');
  }
  const deps = apiDepsFor({
    config,
    db,
    temporal,
    logger,
    secretsKey: secrets.secretsKey,
    adminToken: secrets.adminToken,
    requestSpans: tracing?.requestSpans,
  });
  const { events, launcher } = deps;
  const app = createApp(deps);
  launcher.startRelay();
  const server = app.listen(config.port, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    logger.info({ port }, `API listening on http://127.0.0.1:${port}`);
  });
  limitRequestArrival(server, config.bodyTimeoutMs); // requests must arrive in time; event streams then stay open
  answerClientErrorsWithProblems(server);
  onShutdown(logger, async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // SSE clients reconnect with Last-Event-ID elsewhere
    });
    await events.close();
    await launcher.close();
    await temporal.connection.close();
    await pool.end();
    await tracing?.shutdown(); // last: the spans of everything above are exported
  });
}

void main();
