import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type pg from 'pg';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { apiDepsFor, type ApiDeps } from '../../src/api/deps';
import { answerClientErrorsWithProblems, limitRequestArrival } from '../../src/api/client-errors';
import { loadConfig, type Config } from '../../src/config';
import { createDb, createPool, type Db } from '../../src/db/database';
import { createLogger } from '../../src/logger';
import { connectClient } from '../../src/temporal/connection';
import { createRunwayWorker, type RunwayWorker } from '../../src/worker/create-worker';

export interface TestStack {
  baseUrl: string;
  config: Config;
  db: Db;
  pool: pg.Pool;
  temporal: Client;
  adminToken: string;
  secretsKey: Buffer;
  /** What the API was built with (to exercise its parts directly). */
  apiDeps: ApiDeps;
  http: ReturnType<typeof request>;
  /** Starts the in-process worker again after `stopWorker`. */
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  /** Run a worker inside the test process (default true). */
  worker?: boolean;
}

/**
 * The real platform inside the test process: API on an ephemeral port and a worker on a task
 * queue of its own, against the suite's Temporal dev server and PostgreSQL database.
 */
export async function startStack(options: StackOptions = {}): Promise<TestStack> {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed in this process
  }
  const adminToken = `admin-${randomBytes(12).toString('hex')}`;
  const secretsKey = randomBytes(32);
  const config = loadConfig({
    ...process.env,
    RUNWAY_TASK_QUEUE: `test-${randomBytes(6).toString('hex')}`,
    RUNWAY_DEMO_DELAY_MS: '5',
    RUNWAY_ADMIN_TOKEN: adminToken,
    RUNWAY_SECRETS_KEY: secretsKey.toString('base64'),
    ...options.env,
  });
  const logger = createLogger('test', config.logLevel);
  const pool = createPool(config.databaseUrl, 20);
  const db = createDb(pool);
  const temporal = await connectClient(config.temporal.address, config.temporal.namespace);
  const apiDeps = apiDepsFor({ config, db, temporal, logger, secretsKey, adminToken });
  const { listener, events, launcher } = apiDeps;
  launcher.startRelay();
  const app = createApp(apiDeps);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    // Before 'listening': Node reads connectionsCheckingInterval then (as src/bin/api.ts does).
    limitRequestArrival(s, config.bodyTimeoutMs);
  });
  answerClientErrorsWithProblems(server);
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let worker: { worker: RunwayWorker; running: Promise<void>; close: () => Promise<void> } | undefined;
  const startWorker = async () => {
    const created = await createRunwayWorker({
      config,
      db,
      client: temporal,
      logger,
      secretsKey,
      workflowBundle: { codePath: process.env.RUNWAY_TEST_BUNDLE as string },
    });
    worker = { worker: created.worker, running: created.worker.run(), close: () => created.connection.close() };
  };
  const stopWorker = async () => {
    if (!worker) return;
    const w = worker;
    worker = undefined;
    w.worker.shutdown(); // also before its pollers have started
    await w.running;
    await w.close();
  };
  if (options.worker !== false) await startWorker();

  return {
    baseUrl,
    config,
    db,
    pool,
    temporal,
    adminToken,
    secretsKey,
    apiDeps,
    http: request(baseUrl),
    startWorker,
    stopWorker,
    async stop() {
      await stopWorker();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await events.close();
      await launcher.close();
      await listener.close();
      await temporal.connection.close();
      await pool.end();
    },
  };
}
