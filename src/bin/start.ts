import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bootstrap, onShutdown } from '../bootstrap';
import { resource, startServices, type Service } from '../services';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { setNamespaceRetention, waitForNamespace } from '../temporal/connection';
import { devServerOptionsFrom, portOpen, superviseDevServer, type SupervisedDevServer } from '../temporal/dev-server';
import { buildIdOf } from '../temporal/versioning';

/**
 * `npm start`: the whole platform on one machine. Finds or starts PostgreSQL (see
 * resolveDatabase), starts the local Temporal dev server (unless one already answers on
 * TEMPORAL_ADDRESS), applies migrations, then runs the worker and the API
 * as child processes, restarting any of the three if it dies.
 */
async function main() {
  const { config, logger, pool, embeddedDatabase } = await bootstrap('runway', { mayStartDatabase: true });
  await pool.end();
  // The children use the database decided here (the system one, or the embedded one started here).
  process.env.DATABASE_URL = config.databaseUrl;
  // One build id for every worker this starts, restarted ones included (see src/temporal/versioning.ts).
  process.env.RUNWAY_BUILD_ID = buildIdOf(config.temporal.versioning);
  logger.info(`worker build ${process.env.RUNWAY_BUILD_ID}`);
  const server = devServerOptionsFrom(config);

  let temporal: SupervisedDevServer | undefined;
  if (await portOpen(server.ip ?? '127.0.0.1', server.port)) {
    logger.info(`using the Temporal server already listening on ${config.temporal.address}`);
  } else {
    temporal = await superviseDevServer({ ...server, log: (msg) => logger.info(msg) });
    await matchNamespaceRetention(config, logger);
    logger.info(`Temporal Web UI: http://${server.ip}:${config.temporal.uiPort}/namespaces/${config.temporal.namespace}/workflows`);
  }

  // Stopped in the reverse order: the API stops accepting first, the worker drains, then Temporal and PostgreSQL.
  const services: Service[] = [
    resource('embedded PostgreSQL', async () => embeddedDatabase?.stop()),
    resource('Temporal dev server', async () => temporal?.stop()),
    childService('worker', 'worker.ts', logger),
    childService('api', 'api.ts', logger),
  ];
  const running = await startServices(services, logger);
  logger.info(`API on http://127.0.0.1:${config.port}; admin token in ${path.join(config.dataDir, 'admin-token')}${config.adminToken ? ' (or RUNWAY_ADMIN_TOKEN)' : ''}`);
  onShutdown(logger, () => running.stop());
}

/** A child process running `file`, restarted (with back-off) whenever it dies until the service stops. */
function childService(name: string, file: string, logger: Logger): Service {
  let child: ChildProcess | undefined;
  let stopping = false;
  const launch = (restarts: number) => {
    const current = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, file)], { stdio: 'inherit', env: process.env });
    child = current;
    current.once('exit', (code, signal) => {
      if (stopping) return;
      const delay = Math.min(30_000, 500 * 2 ** restarts);
      logger.warn({ code, signal }, `${name} exited; restarting in ${delay} ms`);
      void sleep(delay).then(() => !stopping && launch(restarts + 1));
    });
  };
  return {
    name,
    start: () => launch(0),
    stop: () => {
      stopping = true;
      return new Promise<void>((resolve) => {
        if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}

/** The namespace this dev server created keeps closed workflows as long as Runway keeps their runs. */
async function matchNamespaceRetention(config: Config, logger: Logger): Promise<void> {
  const { address, namespace } = config.temporal;
  try {
    await waitForNamespace(address, namespace);
    await setNamespaceRetention(address, namespace, config.retention.days);
  } catch (err) {
    logger.warn({ err }, 'could not set the namespace retention; the dev server keeps its default');
  }
}

void main();
