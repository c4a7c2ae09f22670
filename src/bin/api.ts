import { createApp } from '../api/app';
import { apiDepsFor } from '../api/deps';
import { answerClientErrorsWithProblems, limitRequestArrival } from '../api/client-errors';
import { bootstrap, onShutdown } from '../bootstrap';
import type { Connection } from '@temporalio/client';
import { lazyClient, waitForNamespace } from '../temporal/connection';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { startTracing } from '../telemetry';
import { createServer, type Server } from 'node:http';
import type { Logger } from '../logger';
import { resource, startServices, type Service } from '../services';

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
  const { listener, events, launcher } = deps;
  const app = createApp(deps);
  const server = createServer(app.callback()); // listening once its service starts
  limitRequestArrival(server, config.bodyTimeoutMs); // requests must arrive in time; event streams then stay open
  answerClientErrorsWithProblems(server);
  // Started in this order, stopped in the reverse one: stop accepting, drain, close the database last.
  const services: Service[] = [
    resource('tracing', async () => tracing?.shutdown()), // last: the spans of everything else are exported
    resource('database pool', () => pool.end()),
    resource('Temporal client', () => temporal.connection.close()),
    { name: 'notifications listener', start: () => undefined, stop: () => listener.close() },
    { name: 'run outbox relay', start: () => launcher.startRelay(), stop: () => launcher.close() },
    { name: 'event hub', start: () => undefined, stop: () => events.close() },
    httpService(server, config.port, logger),
  ];
  const running = await startServices(services, logger);
  onShutdown(logger, () => running.stop());
}

/** The HTTP server: listens on `port`; stopping closes it and every open connection (SSE clients reconnect with Last-Event-ID elsewhere). */
function httpService(server: Server, port: number, logger: Logger): Service {
  return {
    name: 'HTTP server',
    start: () =>
      new Promise<void>((resolve, reject) =>
        server.once('error', reject).listen(port, () => {
          const address = server.address();
          const bound = typeof address === 'object' && address ? address.port : port;
          logger.info({ port: bound }, `API listening on http://127.0.0.1:${bound}`);
          resolve();
        }),
      ),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

void main();
